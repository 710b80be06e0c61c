"""Reference for `featurescope logit-effects`: each unit's output direction
taken from Hugging Face transformers' copy of the GGUF subject model (an MLP
neuron's column of its block's down projection, through the scale of the
block's post-feedforward norm; a dictionary feature's decoder row, W_dec
of its SAELens-format safetensors, read by safetensors), scaled by the final norm's (1 + weight) and read by the output
head, in float64; the K tokens it raises and lowers most.

usage: logit_effects_reference.py MODEL.gguf DATASET K UNIT...
  -> JSON {unit: {"raised": [[token text, effect], ...], "lowered": [...]}}"""
import json
import sys

import torch
from safetensors.torch import load_file

import gguf_causal_lm

gguf, dataset, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
units = [int(u) for u in sys.argv[4:]]
torch.set_num_threads(2)
tokenizer, model = gguf_causal_lm.load(gguf)
manifest = json.load(open(f"{dataset}/manifest.json"))
final_scale = 1.0 + model.model.norm.weight.double()
head = model.lm_head.weight.double()


def text(token_id):
    piece = tokenizer.decode([token_id])
    return piece if piece else tokenizer.convert_ids_to_tokens(token_id)


out = {}
with torch.no_grad():
    for unit in units:
        source = next(s for s in manifest["sources"]
                      if s["first_unit_id"] <= unit < s["first_unit_id"] + s["units"])
        index = unit - source["first_unit_id"]
        layer, site = int(source["hook"].split(".")[1]), source["hook"].split(".", 2)[2]
        block = model.model.layers[layer]
        if site == "mlp":
            assert source["dictionary"] is None
            post = 1.0 + block.post_feedforward_layernorm.weight.double()
            direction = block.mlp.down_proj.weight.double()[:, index] * post
        else:
            weights = load_file(f'{source["dictionary"]["source"]}/sae_weights.safetensors')
            direction = weights["W_dec"].double()[index]
        logits = (direction * final_scale) @ head.T
        raised = torch.topk(logits, k)
        lowered = torch.topk(logits, k, largest=False)
        out[unit] = {
            side: [[text(int(i)), float(v)] for v, i in zip(top.values, top.indices)]
            for side, top in (("raised", raised), ("lowered", lowered))
        }
print(json.dumps(out))
