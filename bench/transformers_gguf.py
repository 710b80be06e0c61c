"""The peer for the GGUF benchmark: Hugging Face transformers loading the same
GGUF file (`gguf_file=`, float32, as its docs show) and running only the
forward pass of the base model (no logits, and no layer after the deepest
hooked one) on the same windows featurescope
cuts (<bos> + up to WINDOW-1 text tokens), sorted by length as featurescope
sorts them, in batches padded to their longest window, with the MLP
activations of the same layers hooked out (and nothing done with them).

Loads the model RUNS times (timing each load) and runs the forward pass
RUNS times on the last one.

usage: transformers_gguf.py MODEL.gguf CORPUS.jsonl LAYERS(2,14) WINDOW BATCH RUNS -> JSON"""
import json
import os
import sys
import time

import torch
from transformers import AutoModel, AutoTokenizer

gguf, corpus, layers, window, batch, runs = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7])
layers = [int(l) for l in layers.split(",")]
folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
windows = []
for line in open(corpus):
    if line.strip():
        ids = tok(json.loads(line)["text"], add_special_tokens=False)["input_ids"]
        windows += [[tok.bos_token_id] + ids[i:i + window - 1] for i in range(0, len(ids), window - 1)]
windows.sort(key=len)
tokens = sum(len(w) for w in windows)

loads = []
for _ in range(runs):
    start = time.perf_counter()
    model = AutoModel.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    loads.append(time.perf_counter() - start)
# The strongest setup: layers after the deepest one hooked do not run (as
# featurescope skips them too).
model.layers = model.layers[:max(layers) + 1]
kept = []
for layer in layers:
    model.layers[layer].mlp.down_proj.register_forward_pre_hook(lambda m, a: kept.append(a[0]))
forwards = []
with torch.no_grad():
    for _ in range(runs):
        start = time.perf_counter()
        for b in range(0, len(windows), batch):
            chunk = windows[b:b + batch]
            longest = max(len(w) for w in chunk)
            ids = torch.tensor([w + [0] * (longest - len(w)) for w in chunk])
            mask = torch.tensor([[1] * len(w) + [0] * (longest - len(w)) for w in chunk])
            model(input_ids=ids, attention_mask=mask)
            kept.clear()
        forwards.append(time.perf_counter() - start)
print(json.dumps({"windows": len(windows), "tokens": tokens, "load_seconds": loads,
                  "forward_seconds": forwards, "threads": torch.get_num_threads(),
                  "torch": torch.__version__}))
