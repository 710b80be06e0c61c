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
./target/release/featurescope extract \
    --model .venv/models/all-MiniLM-L6-v2 --corpus "$corpus" \
    --layers 1,4 --hook mlp --window 64 \
    --top-k 20 --random-k 15 --quantile-k 2 --seed 0 \
    --out datasets/demo
./target/release/featurescope inspect datasets/demo
