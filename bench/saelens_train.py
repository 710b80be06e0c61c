"""The peer for the SAE training benchmark: SAELens (PyPI sae-lens) training
the same architecture and sizes on the same cached activations, one step as
SAETrainer._train_step does it (training_forward_pass, backward, gradient
clipping at 1.0, Adam, dead-latent bookkeeping), with the same
hyperparameters and input scaling (SAELens's expected_average_only_in,
folded into the saved weights). Loading the cache is not timed.

Also measures this machine's float32 matmul rate at the step's shapes.

usage: saelens_train.py CACHE_DIR ARCH(standard|topk) TOKENS BATCH D_SAE L1 K LR OUT_CKPT -> JSON"""
import json
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from sae_lens.saes.sae import TrainStepInput
from sae_lens.saes.standard_sae import StandardTrainingSAE, StandardTrainingSAEConfig
from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

cache, arch, tokens, batch, d_sae, l1, k, lr, out = sys.argv[1:10]
tokens, batch, d_sae, l1, k, lr = int(tokens), int(batch), int(d_sae), float(l1), int(k), float(lr)
info = json.loads((Path(cache) / "cache.json").read_text())
data = torch.cat([load_file(str(Path(cache) / s["file"]))["activations"] for s in info["shards"]])
d_in = data.shape[1]
torch.manual_seed(0)

if arch == "standard":
    sae = StandardTrainingSAE(StandardTrainingSAEConfig(
        d_in=d_in, d_sae=d_sae, l1_coefficient=l1, apply_b_dec_to_input=True))
    coefficients = {"l1": l1}
else:
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(
        d_in=d_in, d_sae=d_sae, k=k, rescale_acts_by_decoder_norm=False, apply_b_dec_to_input=True))
    coefficients = {}
# The same input scaling featurescope uses: mean norm sqrt(d_in), estimated on the first rows.
scale = d_in ** 0.5 / data[: 16 * batch].norm(dim=-1).mean().item()
optimizer = torch.optim.Adam(sae.parameters(), lr=lr, betas=(0.9, 0.999))
since_fired = torch.zeros(d_sae)
steps = (tokens + batch - 1) // batch
order = torch.randperm(data.shape[0])
batches = [data[order[(i * batch) % len(order):][:batch]] * scale for i in range(steps)]
batches = [b if b.shape[0] == batch else data[torch.randint(0, len(data), (batch,))] * scale for b in batches]

start = time.perf_counter()
for step in range(steps):
    out_step = sae.training_forward_pass(TrainStepInput(
        sae_in=batches[step], coefficients=coefficients,
        dead_neuron_mask=(since_fired > 1000).bool(), n_training_steps=step, is_logging_step=False))
    with torch.no_grad():
        did_fire = out_step.feature_acts.bool().float().sum(-2).bool()
        since_fired += 1
        since_fired[did_fire] = 0
    out_step.loss.backward()
    torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad()
seconds = time.perf_counter() - start

sae.fold_activation_norm_scaling_factor(scale)
sae.save_inference_model(out)

a = torch.randn(batch, d_in)
w = torch.randn(d_in, d_sae)
a @ w
t0 = time.perf_counter()
for _ in range(5):
    a @ w
matmul_gflops = 2 * batch * d_in * d_sae * 5 / (time.perf_counter() - t0) / 1e9

print(json.dumps({"seconds": seconds, "tokens": steps * batch,
                  "tokens_per_s": steps * batch / seconds, "matmul_gflops": matmul_gflops,
                  "threads": torch.get_num_threads()}))
