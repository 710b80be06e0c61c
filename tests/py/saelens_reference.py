"""SAELens (PyPI sae-lens) as the independent reference for featurescope's
dictionaries and SAE training step.

usage:
  saelens_reference.py encode CKPT_DIR INPUTS OUT
      Loads CKPT_DIR with SAE.load_from_disk and writes its encode and forward
      of the tensor `x` in INPUTS to OUT (`features`, `reconstruction`).
  saelens_reference.py make ARCH CKPT_DIR OUT
      Writes an SAELens checkpoint of architecture ARCH (standard,
      standard-no-bias-input, standard-layer-norm, standard-constant-norm-rescale,
      topk, jumprelu) with random
      weights, plus inputs `x` and SAELens's `features` and `reconstruction`.
  saelens_reference.py grads ARCH PARAMS OUT
      Builds SAELens's training SAE (standard or topk) with the weights in
      PARAMS (W_enc, b_enc, W_dec, b_dec, x, and for topk dead_mask),
      runs training_forward_pass with the coefficients stored there, calls
      backward and writes the gradients and losses to OUT.
"""
import sys

import torch
from safetensors.torch import load_file, save_file
from sae_lens import SAE
from sae_lens.saes.jumprelu_sae import JumpReLUSAE, JumpReLUSAEConfig
from sae_lens.saes.sae import TrainStepInput
from sae_lens.saes.standard_sae import (StandardSAE, StandardSAEConfig, StandardTrainingSAE,
                                        StandardTrainingSAEConfig)
from sae_lens.saes.topk_sae import TopKSAE, TopKSAEConfig, TopKTrainingSAE, TopKTrainingSAEConfig


def encode(ckpt, inputs, out):
    sae = SAE.load_from_disk(ckpt, device="cpu")
    x = load_file(inputs)["x"]
    with torch.no_grad():
        save_file({"features": sae.encode(x).contiguous(),
                   "reconstruction": sae(x).contiguous()}, out)


def make(arch, ckpt, out):
    torch.manual_seed(1)
    d_in, d_sae = 24, 96
    if arch.startswith("standard"):
        cfg = StandardSAEConfig(
            d_in=d_in, d_sae=d_sae,
            apply_b_dec_to_input=(arch != "standard-no-bias-input"),
            normalize_activations={"standard-layer-norm": "layer_norm",
                                   "standard-constant-norm-rescale": "constant_norm_rescale"}.get(arch, "none"))
        sae = StandardSAE(cfg)
    elif arch == "topk":
        sae = TopKSAE(TopKSAEConfig(d_in=d_in, d_sae=d_sae, k=8, rescale_acts_by_decoder_norm=True))
    elif arch == "jumprelu":
        sae = JumpReLUSAE(JumpReLUSAEConfig(d_in=d_in, d_sae=d_sae))
    else:
        raise SystemExit(f"unknown architecture {arch}")
    with torch.no_grad():
        for name, p in sae.named_parameters():
            p.copy_(torch.randn_like(p) * (0.3 if name != "threshold" else 0.1))
            if name == "threshold":
                p.abs_()
    sae.save_model(ckpt)
    x = torch.randn(50, d_in) * 2 + 0.5
    with torch.no_grad():
        save_file({"x": x, "features": sae.encode(x).contiguous(),
                   "reconstruction": sae(x).contiguous()}, out)


def grads(arch, params_path, out):
    p = load_file(params_path)
    d_in, d_sae = p["W_enc"].shape
    coef = p["coefficients"].tolist()  # l1, aux, k
    if arch == "standard":
        sae = StandardTrainingSAE(StandardTrainingSAEConfig(
            d_in=d_in, d_sae=d_sae, l1_coefficient=coef[0], apply_b_dec_to_input=True,
            decoder_init_norm=None))
        coefficients = {"l1": coef[0]}
        dead = None
    else:
        sae = TopKTrainingSAE(TopKTrainingSAEConfig(
            d_in=d_in, d_sae=d_sae, k=int(coef[2]), aux_loss_coefficient=coef[1],
            rescale_acts_by_decoder_norm=False, apply_b_dec_to_input=True, decoder_init_norm=None))
        coefficients = {}
        dead = p["dead_mask"].bool() if "dead_mask" in p else None
    with torch.no_grad():
        for name in ["W_enc", "b_enc", "W_dec", "b_dec"]:
            getattr(sae, name).copy_(p[name])
    output = sae.training_forward_pass(TrainStepInput(
        sae_in=p["x"], coefficients=coefficients, dead_neuron_mask=dead,
        n_training_steps=0, is_logging_step=False))
    output.loss.backward()
    result = {f"grad.{n}": getattr(sae, n).grad.contiguous() for n in ["W_enc", "b_enc", "W_dec", "b_dec"]}
    result["mse"] = output.losses["mse_loss"].detach().reshape(1)
    for key in ["l1_loss", "auxiliary_reconstruction_loss"]:
        if key in output.losses:
            result[key] = output.losses[key].detach().reshape(1)
    save_file(result, out)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"encode": encode, "make": make, "grads": grads}[command](*args)
