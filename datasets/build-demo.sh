#!/usr/bin/env bash
# Rebuilds datasets/demo: MLP neurons of all-MiniLM-L6-v2 (layers 1 and 4)
# over fortunes from Debian's `fortunes` and `fortunes-min` packages (BSD licence; see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
CATEGORIES="art computers definitions education food fortunes goedel humorists kids law linux literature love magic medicine paradoxum people pets platitudes riddles science songs-poems sports startrek tao wisdom work"

make setup build
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PACKAGES="fortunes=1:1.99.1-7.3 fortunes-min=1:1.99.1-7.3"
(cd "$work" && { apt-get download $PACKAGES || { apt-get update -qq && apt-get download $PACKAGES; }; })
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
.venv/bin/python datasets/fortunes_to_jsonl.py "$work/x/usr/share/games/fortunes" $CATEGORIES > "$work/fortunes.jsonl"
./target/release/featurescope extract \
    --model .venv/models/all-MiniLM-L6-v2 --corpus "$work/fortunes.jsonl" \
    --layers 1,4 --hook mlp --window 64 \
    --top-k 20 --random-k 15 --quantile-k 2 --seed 0 \
    --out datasets/demo
./target/release/featurescope inspect datasets/demo
