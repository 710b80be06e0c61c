#!/usr/bin/env bash
# Rebuilds datasets/demo: MLP neurons of all-MiniLM-L6-v2 (layers 1 and 4)
# over fortunes from Debian's `fortunes` and `fortunes-min` packages (BSD
# licence; see README.md). The corpus is kept in bench-data/ (git-ignored),
# which the extraction benchmark shares.
set -euo pipefail
cd "$(dirname "$0")/.."
make setup build
corpus=bench-data/fortunes.jsonl
mkdir -p bench-data
[ -s "$corpus" ] || datasets/fortunes-corpus.sh "$corpus"
fs=./target/release/featurescope
model=.venv/models/all-MiniLM-L6-v2

# Layer 3's residual stream: cached once, then an SAE and the paper's
# baselines on it (datasets/dictionaries/, shipped without training state).
cache=bench-data/minilm-l3-resid
[ -f "$cache/cache.json" ] ||
    $fs extract --model $model --corpus "$corpus" --layers 3 --hook resid --cache "$cache"
dicts=datasets/dictionaries
rm -rf "$dicts/minilm-l3-sae"
$fs train --config datasets/demo-sae.toml
rm -rf "$dicts/minilm-l3-sae/checkpoint"
for kind in pca ica random neuron; do
    $fs baseline --kind $kind --cache "$cache" --out "$dicts/minilm-l3-$kind" --seed 0
done

# Neurons of layers 1 and 4 and the features of every dictionary, side by side.
$fs extract \
    --model $model --corpus "$corpus" \
    --layers 1,4 --hook mlp --window 64 \
    --dictionary "$dicts/minilm-l3-sae" \
    --dictionary "$dicts/minilm-l3-pca" --dictionary "$dicts/minilm-l3-ica" \
    --dictionary "$dicts/minilm-l3-random" --dictionary "$dicts/minilm-l3-neuron" \
    --top-k 20 --random-k 15 --quantile-k 2 --seed 0 \
    --out datasets/demo
$fs inspect datasets/demo
