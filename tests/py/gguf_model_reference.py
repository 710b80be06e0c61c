"""Hugging Face transformers as the reference for featurescope's GGUF subject
models: loads a GGUF file as transformers does (`gguf_file=`, float32, eager
attention), tokenises two real texts, runs them as one right-padded batch and
saves the activations at every hook point, the next-token argmax at every
position and the full logits at a few positions.

usage: gguf_model_reference.py MODEL.gguf OUT.safetensors TEXT_A TEXT_B LONG_TOKENS SHORT_TOKENS

TEXT_A is cut to LONG_TOKENS tokens (past Gemma 3's 512-token window when
long enough), TEXT_B to SHORT_TOKENS; both start with the tokenizer's BOS.
Hook points are those of reference_activations.py. Saved: ids, mask,
blocks.L.{resid_pre,mlp,resid_post}, argmax [2, seq], logits_first (both rows'
first 8 positions), logits_last (row 0's last 8 positions)."""
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, out, text_a, text_b = sys.argv[1:5]
long_tokens, short_tokens = int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(2)
folder, name = os.path.dirname(os.path.abspath(gguf)), os.path.basename(gguf)
tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                             attn_implementation="eager").eval()
rows = [tokenizer(open(path, encoding="utf-8").read())["input_ids"][:n]
        for path, n in ((text_a, long_tokens), (text_b, short_tokens))]
assert len(rows[0]) == long_tokens and len(rows[1]) == short_tokens, "texts too short"
seq = long_tokens
ids = torch.zeros(2, seq, dtype=torch.int64)
mask = torch.zeros(2, seq, dtype=torch.int64)
for i, row in enumerate(rows):
    ids[i, :len(row)] = torch.tensor(row)
    mask[i, :len(row)] = 1

captured = {}
blocks = model.model.layers


def keep(name):
    def pre(module, args, kwargs):
        x = args[0] if args else kwargs["hidden_states"]
        captured[name] = x.detach().clone()
    return pre


def keep_output(name):
    def post(module, args, kwargs, output):
        t = output[0] if isinstance(output, (tuple, list)) else output
        captured[name] = t.detach().clone()
    return post


for i, block in enumerate(blocks):
    block.register_forward_pre_hook(keep(f"blocks.{i}.resid_pre"), with_kwargs=True)
    block.register_forward_hook(keep_output(f"blocks.{i}.resid_post"), with_kwargs=True)
    block.mlp.down_proj.register_forward_pre_hook(keep(f"blocks.{i}.mlp"), with_kwargs=True)

with torch.no_grad():
    logits = model(input_ids=ids, attention_mask=mask).logits
captured = {k: v.contiguous() for k, v in captured.items()}
captured["ids"] = ids
captured["mask"] = mask
captured["argmax"] = logits.argmax(-1)
captured["logits_first"] = logits[:, :8].contiguous()
captured["logits_last"] = logits[0, -8:].contiguous()
save_file(captured, out)
print(len(captured))
