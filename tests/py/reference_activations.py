"""Hugging Face transformers as the reference for featurescope's subject models:
runs a model folder on token ids and saves the activations at every hook point.

usage: reference_activations.py MODEL_DIR OUT.safetensors BATCH SEQ SEED

Hook points (the same definitions as src/model/hooks.rs):
  blocks.L.resid_pre   input of block L
  blocks.L.resid_post  output of block L
  blocks.L.mlp         input of block L's MLP output projection
The saved `ids` and `mask` are the inputs; the second row is right-padded.
Causal language models also save `logits`."""
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

model_dir, out, batch, seq, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
causal = AutoConfig.from_pretrained(model_dir).model_type != "bert"
loader = AutoModelForCausalLM if causal else AutoModel
lm = loader.from_pretrained(model_dir, attn_implementation="eager").float().eval()
model = lm.base_model if causal else lm
cfg = model.config
kind = cfg.model_type

if kind == "bert":
    blocks = model.encoder.layer
    mlp_out = [b.output.dense for b in blocks]
elif kind == "gpt2":
    blocks = model.h
    mlp_out = [b.mlp.c_proj for b in blocks]
elif kind == "gpt_neox":
    blocks = model.layers
    mlp_out = [b.mlp.dense_4h_to_h for b in blocks]
else:  # llama family
    blocks = model.layers
    mlp_out = [b.mlp.down_proj for b in blocks]

captured = {}


def first_tensor(args, kwargs, name):
    if args:
        return args[0]
    return kwargs[name]


def keep(name):
    def pre(module, args, kwargs):
        captured[name] = first_tensor(args, kwargs, "hidden_states").detach().clone()
    return pre


def keep_output(name):
    def post(module, args, kwargs, output):
        t = output[0] if isinstance(output, (tuple, list)) else output
        captured[name] = t.detach().clone()
    return post


for i, block in enumerate(blocks):
    block.register_forward_pre_hook(keep(f"blocks.{i}.resid_pre"), with_kwargs=True)
    block.register_forward_hook(keep_output(f"blocks.{i}.resid_post"), with_kwargs=True)
    mlp_out[i].register_forward_pre_hook(keep(f"blocks.{i}.mlp"), with_kwargs=True)

gen = torch.Generator().manual_seed(seed)
low = 1000 if cfg.vocab_size > 2000 else 1
ids = torch.randint(low, cfg.vocab_size, (batch, seq), generator=gen)
mask = torch.ones(batch, seq, dtype=torch.int64)
if batch > 1:
    mask[1, seq - 3:] = 0
with torch.no_grad():
    output = lm(input_ids=ids, attention_mask=mask)
captured = {k: v.contiguous() for k, v in captured.items()}
if causal:
    captured["logits"] = output.logits.contiguous()
captured["ids"] = ids
captured["mask"] = mask
save_file(captured, out)
print(len(captured))
