"""The transformers peer of the local-LLM benchmark: Hugging Face transformers
loading the same GGUF file (`gguf_file=`, float32, as its docs show) and
simulating as an echo-logprobs endpoint must: one forward pass per prompt
with the logits of every position, then at each `unknown` the
probabilities of the tokens "0".."9" renormalised and their expected value.

usage: transformers_simulate.py MODEL.gguf RUNS.json -> JSON
RUNS.json: [[{"prompt": P, "offsets": [byte offsets of each unknown]}] per run];
the first run is a warm-up. Prints {"seconds": [one per later run, all its
prompts], "torch", "threads", "tokens" (of the last run)}."""
import json
import os
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, runs_path = sys.argv[1], sys.argv[2]
torch.set_num_threads(os.cpu_count())
folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
runs = json.load(open(runs_path, encoding="utf-8"))
digits = [tokenizer(str(v), add_special_tokens=False)["input_ids"][0] for v in range(10)]


def simulate(prompt):
    encoded = tokenizer(prompt["prompt"], return_offsets_mapping=True)
    starts = {start: i for i, (start, end) in reversed(list(enumerate(encoded["offset_mapping"]))) if end > start}
    with torch.inference_mode():
        logits = model(torch.tensor([encoded["input_ids"]])).logits[0]
    values = []
    for offset in prompt["offsets"]:
        p = logits[starts[offset] - 1, digits].softmax(-1)
        values.append(float((p * torch.arange(10)).sum()))
    return len(encoded["input_ids"]), values


seconds = []
for prompts in runs:
    start = time.perf_counter()
    tokens = sum(simulate(p)[0] for p in prompts)
    seconds.append(time.perf_counter() - start)
seconds = seconds[1:]
print(json.dumps({"seconds": seconds, "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "tokens": tokens}))
