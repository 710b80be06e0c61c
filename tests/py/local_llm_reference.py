"""Hugging Face transformers as the reference for featurescope's local LLM
backend, on the same GGUF file (`gguf_file=`, float32, eager attention).

usage: local_llm_reference.py MODEL REQUEST.json OUT.json

MODEL is a GGUF file or a Hugging Face-style folder with a tokenizer.json.

REQUEST.json: {"simulations": [{"prompt": P, "offsets": [byte offsets]}],
               "generation": {"prompt": P, "max_tokens": N}}

For each simulation prompt, the prompt is tokenised (with BOS where the
tokenizer adds one), and at the token starting at each offset (where
`unknown` stands) the full next-token distribution of the token before it is
taken. Where every value 0..10 is one token, P(v) is read for each; where
"10" is "1" then "0", P(v) for the digits, and for "1" the distribution
after "1" placed there (a second forward pass over the prefix and "1")
splits it into 1 (followed by the line end) and 10 (followed by "0"). The
eleven values are renormalised. The generation is greedy
(`do_sample=False`). OUT.json: {"simulations": [[[p0..p10] per offset] per
prompt], "generation": {"ids": [...], "text": T}}."""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

import gguf_causal_lm

path, request_path, out = sys.argv[1:4]
torch.set_num_threads(2)
if os.path.isfile(path):
    tokenizer, model = gguf_causal_lm.load(path, attn_implementation="eager")
else:
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(path, "tokenizer.json"))
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
request = json.load(open(request_path, encoding="utf-8"))


def token_ids(text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


whole = all(len(token_ids(str(v))) == 1 for v in range(11))
digits = [token_ids(str(v))[0] for v in range(11 if whole else 10)]
line_end = token_ids("\n")[0]


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
        if whole:
            values = [p[d].item() for d in digits]
            rows.append([v / sum(values) for v in values])
            continue
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
