"""torch.optim.Adam and torch.nn.utils.clip_grad_norm_ as the reference for
featurescope's optimiser (src/sae/optim.rs).

usage: torch_adam_reference.py INPUTS OUT
INPUTS holds the starting parameters `param.I`, the gradients `grad.S.I` of
every step S, the learning rates `lr` [steps] and `settings` = [beta1, beta2,
max_norm]. Each step clips the gradients to max_norm, as training does, then
takes one Adam step at that step's learning rate. OUT gets the parameters
after every step (`param.S.I`) and the norm before clipping (`norm` [steps])."""
import sys

import torch
from safetensors.torch import load_file, save_file

inputs, out = sys.argv[1], sys.argv[2]
data = load_file(inputs)
beta1, beta2, max_norm = data["settings"].tolist()
lrs = data["lr"].tolist()
count = sum(1 for k in data if k.startswith("param."))
params = [torch.nn.Parameter(data[f"param.{i}"].clone()) for i in range(count)]
adam = torch.optim.Adam(params, lr=lrs[0], betas=(beta1, beta2), eps=1e-8)
result, norms = {}, []
for step, lr in enumerate(lrs):
    for i, p in enumerate(params):
        p.grad = data[f"grad.{step}.{i}"].clone()
    norms.append(float(torch.nn.utils.clip_grad_norm_(params, max_norm)))
    for group in adam.param_groups:
        group["lr"] = lr
    adam.step()
    for i, p in enumerate(params):
        result[f"param.{step}.{i}"] = p.detach().clone().contiguous()
result["norm"] = torch.tensor(norms, dtype=torch.float64)
save_file(result, out)
