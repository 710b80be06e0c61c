"""Hugging Face transformers as the reference for featurescope's local LLM
backend, on the same GGUF file (`gguf_file=`, float32, eager attention).

usage: local_llm_reference.py MODEL.gguf REQUEST.json OUT.json

REQUEST.json: {"simulations": [{"prompt": P, "offsets": [byte offsets]}],
               "generation": {"prompt": P, "max_tokens": N}}

For each simulation prompt, the prompt is tokenised with BOS, and at the
token starting at each offset (where `unknown` stands) the full next-token
distribution of the token before it is taken: P(v) for the digits, and, for
"1", the distribution after "1" placed there (a second forward pass over the
prefix and "1") splits it into 1 (followed by the line end) and 10 (followed
by "0"). The eleven values are renormalised. The generation is greedy
(`do_sample=False`). OUT.json: {"simulations": [[[p0..p10] per offset] per
prompt], "generation": {"ids": [...], "text": T}}."""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, request_path, out = sys.argv[1:4]
torch.set_num_threads(2)
folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                             attn_implementation="eager").eval()
request = json.load(open(request_path, encoding="utf-8"))


def token_id(text):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == 1, (text, ids)
    return ids[0]


digits = [token_id(str(v)) for v in range(10)]
line_end = token_id("\n")


def next_token_probabilities(ids):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1].double()
    return logits.softmax(-1)


simulations = []
for sim in request["simulations"]:
    encoded = tokenizer(sim["prompt"], return_offsets_mapping=True)
    ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
    places = [next(i for i, (start, end) in enumerate(offsets) if start == offset and end > start)
              for offset in sim["offsets"]]
    before = torch.tensor([at - 1 for at in places])
    with torch.no_grad():
        # Full-vocabulary logits at the positions that predict the values.
        logits = model(torch.tensor([ids]), logits_to_keep=before).logits[0].double()
    rows = []
    for at, row in zip(places, logits):
        p = row.softmax(-1)
        after_one = next_token_probabilities(ids[:at] + [digits[1]])
        zero, end = after_one[digits[0]].item(), after_one[line_end].item()
        values = [p[d].item() for d in digits] + [0.0]
        values[10] = values[1] * zero / (zero + end)
        values[1] = values[1] * end / (zero + end)
        total = sum(values)
        rows.append([v / total for v in values])
    simulations.append(rows)

g = request["generation"]
prompt_ids = tokenizer(g["prompt"], return_tensors="pt")["input_ids"]
with torch.no_grad():
    generated = model.generate(prompt_ids, max_new_tokens=g["max_tokens"], do_sample=False)
new = generated[0, prompt_ids.shape[1]:].tolist()
json.dump({"simulations": simulations,
           "generation": {"ids": new, "text": tokenizer.decode(new, skip_special_tokens=True)}},
          open(out, "w", encoding="utf-8"))
