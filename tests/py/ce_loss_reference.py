"""SAELens's own CE-loss-recovered evaluation as the reference for
`featurescope eval-sae`'s next-token loss: a tiny GPT-2 (transformers)
converted to TransformerLens's HookedTransformer, an SAE folder loaded with
SAELens, and sae_lens.evals.get_downstream_reconstruction_metrics on the
given token ids. The same three losses are also computed with transformers
itself, hooking block LAYER's output, and must agree with SAELens's.

usage: ce_loss_reference.py MODEL_DIR SAE_DIR LAYER INPUTS OUT.json
INPUTS holds `ids` [batch, seq] (every position real)."""
import json
import sys

import torch
from safetensors.torch import load_file
from sae_lens import SAE
from sae_lens.evals import get_downstream_reconstruction_metrics
from sae_lens.training.activation_scaler import ActivationScaler
from transformer_lens import HookedTransformer, HookedTransformerConfig
from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights
from transformers import AutoModelForCausalLM

model_dir, sae_dir, layer, inputs, out = sys.argv[1:6]
layer = int(layer)
hf = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()
c = hf.config
cfg = HookedTransformerConfig(
    n_layers=c.n_layer, d_model=c.n_embd, n_ctx=c.n_positions, d_head=c.n_embd // c.n_head,
    n_heads=c.n_head, d_mlp=c.n_inner or 4 * c.n_embd, d_vocab=c.vocab_size,
    act_fn=c.activation_function, normalization_type="LN", eps=c.layer_norm_epsilon,
    default_prepend_bos=False, device="cpu")
lens = HookedTransformer(cfg)
lens.load_and_process_state_dict(convert_gpt2_weights(hf, cfg), fold_ln=False,
                                 center_writing_weights=False, center_unembed=False)
lens.eval()
sae = SAE.load_from_disk(sae_dir, device="cpu")
ids = load_file(inputs)["ids"]


class Tokens:
    """What get_downstream_reconstruction_metrics asks an ActivationsStore for."""

    def get_batch_tokens(self, _n):
        return ids


metrics = get_downstream_reconstruction_metrics(
    sae, lens, Tokens(), ActivationScaler(), compute_kl=False, compute_ce_loss=True,
    n_batches=1, eval_batch_size_prompts=ids.shape[0])


def transformers_loss(replace=None):
    handle = None
    if replace is not None:
        def hook(module, args, output):
            hidden = output[0] if isinstance(output, tuple) else output
            new = replace(hidden)
            return (new,) + tuple(output[1:]) if isinstance(output, tuple) else new
        handle = hf.transformer.h[layer].register_forward_hook(hook)
    with torch.no_grad():
        loss = hf(input_ids=ids, labels=ids).loss.item()
    if handle:
        handle.remove()
    return loss


with torch.no_grad():
    direct = {"ce_loss_without_sae": transformers_loss(),
              "ce_loss_with_sae": transformers_loss(lambda h: sae.decode(sae.encode(h))),
              "ce_loss_with_ablation": transformers_loss(torch.zeros_like)}
for key, value in direct.items():
    assert abs(value - metrics[key]) <= 1e-4 * abs(value), (key, value, metrics[key])
json.dump({"saelens": metrics, "transformers": direct}, open(out, "w"))
