"""The peer for the explorer's lab benchmark: what a Python user runs for
Neuronpedia's activation testing and steering (sae_vis's prompt-centric
view, SAELens's steering tutorial): Hugging Face transformers loading the
demo's GGUF file in float32, its MLP activations of the demo's neuron
layers and its block outputs hooked out, the demo's dictionaries encoding
them (the SAE through SAELens, the linear baselines as one matmul), layers
after the deepest hook cut off. Then generation with and without a forward
hook adding the SAE feature's decoder row, greedy, with the KV cache.

usage: transformers_lab.py MODEL.gguf DATASET TEXT RUNS PROMPT TOKENS UNIT AMOUNT -> JSON
  {"tokens": n, "probe_ms": [...], "steer_ms": [...]}"""
import json
import os
import sys
import time

import torch
from safetensors.torch import load_file
from sae_lens import SAE
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, dataset, text, runs, prompt, tokens, unit, amount = sys.argv[1:9]
runs, tokens, unit, amount = int(runs), int(tokens), int(unit), float(amount)
torch.set_num_threads(2)
folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
manifest = json.load(open(f"{dataset}/manifest.json"))
sources = manifest["sources"]
hooks = sorted({(int(s["hook"].split(".")[1]), s["hook"].split(".", 2)[2]) for s in sources})
encoders = []
for s in sources:
    d = s["dictionary"]
    layer, site = int(s["hook"].split(".")[1]), s["hook"].split(".", 2)[2]
    if d is None:
        encoders.append(((layer, site), None))
        continue
    cfg = json.load(open(f'{d["source"]}/cfg.json'))
    if cfg["architecture"] == "standard":
        sae = SAE.load_from_disk(d["source"], device="cpu")
        encoders.append(((layer, site), sae.encode))
    else:
        w = load_file(f'{d["source"]}/sae_weights.safetensors')
        shift = w["b_dec"] if cfg["apply_b_dec_to_input"] else 0.0
        encoders.append(((layer, site), lambda x, w=w, shift=shift: (x - shift) @ w["W_enc"] + w["b_enc"]))

captured = {}
for layer, site in hooks:
    block = model.model.layers[layer]
    if site == "mlp":
        block.mlp.down_proj.register_forward_pre_hook(
            lambda m, a, key=(layer, site): captured.__setitem__(key, a[0]))
    else:
        block.register_forward_hook(
            lambda m, a, out, key=(layer, site): captured.__setitem__(key, out[0] if isinstance(out, tuple) else out))

ids = tokenizer(text, return_tensors="pt")["input_ids"]
deepest = max(layer for layer, _ in hooks)
body = model.model
all_layers = body.layers
probe_ms = []
with torch.no_grad():
    # The strongest setup: the layers after the deepest hook do not run.
    body.layers = all_layers[:deepest + 1]
    for _ in range(runs + 1):
        start = time.perf_counter()
        body(input_ids=ids)
        acts = torch.cat([captured[key][0] if enc is None else enc(captured[key][0]) for key, enc in encoders], -1)
        acts.max(0)
        probe_ms.append((time.perf_counter() - start) * 1e3)
    body.layers = all_layers

source = next(s for s in sources if s["first_unit_id"] <= unit < s["first_unit_id"] + s["units"])
row = load_file(f'{source["dictionary"]["source"]}/sae_weights.safetensors')["W_dec"][unit - source["first_unit_id"]]
layer = int(source["hook"].split(".")[1])
state = {"on": False}


def steer(module, args, out):
    if state["on"]:
        h = out[0] if isinstance(out, tuple) else out
        h = h + amount * row
        return (h,) + tuple(out[1:]) if isinstance(out, tuple) else h


model.model.layers[layer].register_forward_hook(steer)
steer_ms = []
prompt_ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
with torch.no_grad():
    for _ in range(runs + 1):
        start = time.perf_counter()
        for on in (False, True):
            state["on"] = on
            model.generate(prompt_ids, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False,
                           use_cache=True, pad_token_id=tokenizer.eos_token_id)
        steer_ms.append((time.perf_counter() - start) * 1e3)
# The first of each is a warm-up.
print(json.dumps({"tokens": ids.shape[1], "probe_ms": probe_ms[1:], "steer_ms": steer_ms[1:]}))
