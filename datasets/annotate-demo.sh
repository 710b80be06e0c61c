#!/usr/bin/env bash
# Adds what the local backend (Gemma-3-270M run in-process, no server) makes
# to datasets/demo, so the explorer opens with explanations, scores, lineage
# and real vs simulated activations: explanations of 30 live units (max
# activation above zero) from each of the demo's seven sources (the neurons
# of layers 2 and 14, the SAE's features, the PCA, ICA, random-direction and
# neuron-basis baselines), their top-and-random and random-only scores (the
# inputs of `experiment bases`, which makes them), and revisions of the
# first 3 of each source, scored too. Seeded; says how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
make setup build
fs=./target/release/featurescope
demo=datasets/demo
SECONDS=0
# A rebuild starts from nothing of the kind (ratings stay).
rm -rf "$demo/explanations" "$demo/scores"
read -r explained revised < <(.venv/bin/python - "$demo" <<'PY'
import sys, random
import pyarrow.parquet as pq
units = pq.read_table(f"{sys.argv[1]}/units.parquet", columns=["unit_id", "layer", "kind", "max"]).to_pylist()
groups = {}
for u in units:
    if u["max"] > 0:
        groups.setdefault((u["layer"], u["kind"]), []).append(u["unit_id"])
rng = random.Random(0)
picked = {key: sorted(rng.sample(ids, 30)) for key, ids in sorted(groups.items())}
print(",".join(str(i) for ids in picked.values() for i in ids),
      ",".join(str(i) for ids in picked.values() for i in ids[:3]))
PY
)
# Explains the 210 units and scores them on both record sets; its figure
# goes to the docs, its results folder does not ship.
$fs experiment bases "$demo" --units "ids:$explained" --per-basis 30
mkdir -p docs/figures
cp "$demo/experiments/bases/figure.svg" docs/figures/bases-demo.svg
rm -rf "$demo/experiments"
$fs revise "$demo" --units "ids:$revised"
$fs score "$demo" --units "ids:$revised"
$fs inspect "$demo"
echo "annotating the demo took ${SECONDS}s"
