"""The peer for the SAE training benchmark: SAELens (PyPI sae-lens) training
the same architecture and sizes on the same cached activations, one step as
SAETrainer._train_step does it (training_forward_pass, backward, gradient
clipping at 1.0, Adam, dead-latent bookkeeping), with the same
hyperparameters and input scaling (SAELens's expected_average_only_in,
folded into the saved weights). Loading the cache is not timed.

SETUP is one of SAELens's own speed options for CPU:
  default   the configuration as it comes;
  sparse    TopK only: use_sparse_activations=True, which its docs recommend
            for small k in float32 without autocast (a sparse latent tensor
            and sparse decoder matmul);
  compiled  compile_sae: training_forward_pass through torch.compile
            (inductor), as SAELens's runner does it.

Also times, in this process and on these threads, the five matmuls of a
standard step at its shapes (the yardstick of the step cost).

usage: saelens_train.py CACHE_DIR ARCH(standard|topk) SETUP TOKENS BATCH D_SAE L1 K LR THREADS OUT_CKPT
prints one JSON line"""
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from sae_lens.saes.sae import TrainStepInput
from sae_lens.saes.standard_sae import StandardTrainingSAE, StandardTrainingSAEConfig
from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

cache, arch, setup, tokens, batch, d_sae, l1, k, lr, threads, out = sys.argv[1:12]
tokens, batch, d_sae, l1, k, lr = int(tokens), int(batch), int(d_sae), float(l1), int(k), float(lr)
torch.set_num_threads(int(threads))
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
        d_in=d_in, d_sae=d_sae, k=k, rescale_acts_by_decoder_norm=False, apply_b_dec_to_input=True,
        use_sparse_activations=(setup == "sparse")))
    coefficients = {}
if setup == "compiled":
    sae.training_forward_pass = torch.compile(sae.training_forward_pass, backend="inductor")
elif setup not in ("default", "sparse"):
    raise SystemExit(f"unknown setup {setup}")
# The same input scaling featurescope uses: mean norm sqrt(d_in), estimated on the first rows.
scale = d_in ** 0.5 / data[: 16 * batch].norm(dim=-1).mean().item()
optimizer = torch.optim.Adam(sae.parameters(), lr=lr, betas=(0.9, 0.999))
since_fired = torch.zeros(d_sae)
steps = (tokens + batch - 1) // batch
order = torch.randperm(data.shape[0])
batches = [data[order[(i * batch) % len(order):][:batch]] * scale for i in range(steps)]
batches = [b if b.shape[0] == batch else data[torch.randint(0, len(data), (batch,))] * scale for b in batches]


def train_step(step):
    out_step = sae.training_forward_pass(TrainStepInput(
        sae_in=batches[step], coefficients=coefficients,
        dead_neuron_mask=(since_fired > 1000).bool(), n_training_steps=step, is_logging_step=False))
    with torch.no_grad():
        acts = out_step.feature_acts
        acts = acts.to_dense() if acts.is_sparse else acts
        did_fire = acts.bool().float().sum(-2).bool()
        since_fired.add_(1)
        since_fired[did_fire] = 0
    out_step.loss.backward()
    torch.nn.utils.clip_grad_norm_(sae.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad()


# A compiled step is compiled on its first calls (dynamo may compile again
# once the step number changes); that is set-up, not training.
first = 3 if setup == "compiled" else 0
for step in range(first):
    train_step(step)
start = time.perf_counter()
for step in range(first, steps):
    train_step(step)
seconds = time.perf_counter() - start
trained = (steps - first) * batch

sae.fold_activation_norm_scaling_factor(scale)
sae.save_inference_model(out)


def matmul_seconds(m, n, p):
    a, b = torch.randn(m, n), torch.randn(n, p)
    a @ b
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# Encode, decode, and the gradients of the decoder, the latents and the encoder.
shapes = [(batch, d_in, d_sae), (batch, d_sae, d_in), (d_sae, batch, d_in),
          (batch, d_in, d_sae), (d_in, batch, d_sae)]
step_matmul_s = sum(matmul_seconds(*s) for s in shapes)
print(json.dumps({"seconds": seconds, "tokens": trained, "tokens_per_s": trained / seconds,
                  "step_matmul_s": step_matmul_s}))
