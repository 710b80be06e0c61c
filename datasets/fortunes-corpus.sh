#!/usr/bin/env bash
# Writes the fortunes corpus (JSONL, one fortune per line) used by the demo
# and the extraction benchmark: usage fortunes-corpus.sh OUT.jsonl
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
CATEGORIES="art computers definitions education food fortunes goedel humorists kids law linux literature love magic medicine paradoxum people pets platitudes riddles science songs-poems sports startrek tao wisdom work"
PACKAGES="fortunes=1:1.99.1-7.3 fortunes-min=1:1.99.1-7.3"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && { apt-get download $PACKAGES || { apt-get update -qq && apt-get download $PACKAGES; }; }) >/dev/null 2>&1
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done
python3 "$here/fortunes_to_jsonl.py" "$work/x/usr/share/games/fortunes" $CATEGORIES > "$out"
