#!/usr/bin/env bash
# The --device cuda paths of extract, extract --cache, train (cache and
# streaming) and eval-sae on a GPU machine, each beside the same command on
# the CPU, on a tiny GPT-2 made there with transformers.
#
# usage: cuda_check.sh DIR, where DIR holds `featurescope` (a binary for the
# machine's libtorch), `tokenizer.json` (MiniLM's) and `corpus.jsonl`; run
# from the repository root on the GPU machine, where `python3` has torch and
# transformers.
#
# The lent GPU machines have PyTorch 2.11 and no registry, and a CUDA
# libtorch 2.13 is too large to carry there, so the binary used on
# 2026-11-26 was this repository built with tch 0.24 (its PyTorch 2.11
# release; the code compiles unchanged) against PyPI's torch 2.11.0 wheel:
#   pip download --no-deps torch==2.11.0; unzip torch/include, torch/lib
#   sed -i 's/^tch = "0.26"/tch = "0.24"/; s/^torch-sys = "0.26"/torch-sys = "0.24"/' Cargo.toml
#   LIBTORCH=.../torch RUSTFLAGS="-C link-arg=-Wl,-rpath,/opt/torch/.venv/lib/python3.12/site-packages/torch/lib" \
#       cargo build --release --bin featurescope
set -u
DIR=${1:?usage: cuda_check.sh DIR}
B=$(cd "$DIR" && pwd)/featurescope
chmod +x "$B"
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi -L
TL=$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')/lib
python3 -c 'import torch; print("python torch", torch.__version__, torch.cuda.is_available())'
ldd "$B" | grep -E "torch|c10"
echo "== doctor =="
"$B" doctor || exit 1
T=/tmp/fs
mkdir -p $T
python3 tests/py/make_tiny_models.py $T/models "$DIR/tokenizer.json" || exit 1
M=$T/models/gpt2
C="$DIR/corpus.jsonl"
run() { echo "== $*"; /usr/bin/time -f "%e s" "$B" "$@" 2>&1 | tail -30; }
for d in cpu cuda; do
  run extract --model $M --corpus $C --layers 0,1 --hook mlp --window 32 --device $d --out $T/ds-$d
done
python3 - <<EOF
import pyarrow.parquet as pq, numpy as np
u = [pq.read_table("$T/ds-%s/units.parquet" % d).column("max").to_numpy() for d in ("cpu", "cuda")]
print("units", len(u[0]), len(u[1]), "max |unit max cpu - cuda|", np.abs(u[0] - u[1]).max())
r = [pq.read_table("$T/ds-%s/records" % d) for d in ("cpu", "cuda")]
x, y = [np.concatenate([np.asarray(v, dtype=np.float64) for v in t.column("activations").to_pylist()]) for t in r]
print("records", r[0].num_rows, r[1].num_rows, "max |activation diff|", np.abs(x - y).max() if x.shape == y.shape else "selection differs")
EOF
run extract --model $M --corpus $C --layers 1 --hook resid --window 32 --device cuda --cache $T/cache
for d in cpu cuda; do
  cat > $T/sae-$d.toml <<EOF
out = "$T/sae-$d"
device = "$d"
[data]
cache = "$T/cache"
[sae]
architecture = "topk"
d_sae = 256
k = 8
[train]
tokens = 204800
batch = 1024
metrics_every = 50
EOF
  run train --config $T/sae-$d.toml --json
done
for d in cpu cuda; do
  run eval-sae $T/sae-cuda --model $M --corpus $C --window 32 --device $d --json
done
# streaming source on cuda
cat > $T/sae-stream.toml <<EOF
out = "$T/sae-stream"
device = "cuda"
[data]
model = "$M"
corpus = "$C"
hook = "blocks.1.resid_post"
window = 32
[sae]
architecture = "standard"
d_sae = 256
[train]
tokens = 51200
batch = 512
metrics_every = 50
EOF
run train --config $T/sae-stream.toml --json
cp $T/sae-cuda/metrics.jsonl "$OUT/metrics-cuda.jsonl" 2>/dev/null
cp $T/sae-cpu/metrics.jsonl "$OUT/metrics-cpu.jsonl" 2>/dev/null
echo done
