"""Independent reference for `featurescope extract` on a BERT model: windows
the corpus with the `tokenizers` package, runs transformers one window at a
time, and reports, for the given MLP units of one layer, the top windows by
maximum activation, the unit's statistics and all its activations (for the
histogram).

usage: reference_extraction.py MODEL_DIR CORPUS.jsonl LAYER WINDOW TOP_K UNIT[,UNIT...]"""
import json
import sys

import torch
from tokenizers import Tokenizer
from transformers import AutoModel

model_dir, corpus, layer, window, top_k, units = sys.argv[1:7]
layer, window, top_k = int(layer), int(window), int(top_k)
units = [int(u) for u in units.split(",")]

tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
tok.no_truncation()
tok.no_padding()
cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
content = window - 2

model = AutoModel.from_pretrained(model_dir).float().eval()
captured = {}
model.encoder.layer[layer].output.dense.register_forward_pre_hook(
    lambda module, args: captured.__setitem__("mlp", args[0][0]))

windows = []  # (document_id, token_offset, activations [tokens, units])
doc_id = 0
for line in open(corpus):
    if not line.strip():
        continue
    text = json.loads(line)["text"]
    ids = tok.encode(text, add_special_tokens=False).ids
    for start in range(0, len(ids), content):
        chunk = [cls] + ids[start:start + content] + [sep]
        with torch.no_grad():
            model(input_ids=torch.tensor([chunk]))
        windows.append((doc_id, start, captured["mlp"][:, units].clone()))
    doc_id += 1

out = {}
for j, unit in enumerate(units):
    acts = [w[2][:, j] for w in windows]
    everything = torch.cat(acts)
    order = sorted(range(len(windows)), key=lambda i: -float(acts[i].max()))[:top_k]
    out[str(unit)] = {
        "top": [{"document_id": windows[i][0], "token_offset": windows[i][1],
                 "activations": acts[i].tolist()} for i in order],
        "max": float(everything.max()),
        "mean": float(everything.double().mean()),
        "variance": float(everything.double().var(unbiased=False)),
        "values": everything.tolist(),
        "density": float((everything > 0).double().mean()),
    }
print(json.dumps({"windows": len(windows), "units": out}))
