"""Reference logits of a causal LM (Hugging Face transformers), clean and
with the output of block LAYER (the residual stream after it) replaced by an
SAE's reconstruction, computed by SAELens's forward pass on that SAE folder.

usage: patched_logits.py MODEL_DIR SAE_DIR LAYER INPUTS OUT
INPUTS holds `ids` and `mask` [batch, seq]; OUT gets `clean` and `patched`."""
import sys

import torch
from safetensors.torch import load_file, save_file
from sae_lens import SAE
from transformers import AutoModelForCausalLM

model_dir, sae_dir, layer, inputs, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
sae = SAE.load_from_disk(sae_dir, device="cpu")
data = load_file(inputs)
ids, mask = data["ids"], data["mask"]
blocks = model.transformer.h if hasattr(model, "transformer") else model.model.layers


def replace(module, args, output):
    hidden = output[0] if isinstance(output, tuple) else output
    patched = sae(hidden)
    return (patched,) + tuple(output[1:]) if isinstance(output, tuple) else patched


with torch.no_grad():
    clean = model(input_ids=ids, attention_mask=mask).logits
    handle = blocks[layer].register_forward_hook(replace)
    patched = model(input_ids=ids, attention_mask=mask).logits
    handle.remove()
save_file({"clean": clean.contiguous(), "patched": patched.contiguous()}, out)
