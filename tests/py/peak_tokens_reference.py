"""Prints each unit's most frequent peak tokens as JSON ({unit: [token, ...]}),
computed with pyarrow and numpy from the record files: for every top record,
the token at its first maximum if that maximum is positive; per unit the
tokens by count, most first, ties to the token met first in file order.

usage: peak_tokens_reference.py DATASET PER_UNIT"""
import collections
import glob
import json
import os
import sys

import numpy as np
import pyarrow.parquet as pq

dataset, per_unit = sys.argv[1], int(sys.argv[2])
counts = collections.defaultdict(collections.Counter)
first_seen = collections.defaultdict(dict)
files = sorted(
    f
    for f in glob.glob(os.path.join(dataset, "records", "*.parquet"))
    if not os.path.basename(f).startswith(".")
)
for path in files:
    table = pq.read_table(path, columns=["unit_id", "sample_kind", "tokens", "activations"])
    for row in table.to_pylist():
        if row["sample_kind"] != "top":
            continue
        acts = np.asarray(row["activations"], dtype=np.float32)
        peak = int(np.argmax(acts))
        if acts[peak] <= 0:
            continue
        token, unit = row["tokens"][peak], row["unit_id"]
        counts[unit][token] += 1
        first_seen[unit].setdefault(token, len(first_seen[unit]))
print(
    json.dumps(
        {
            str(unit): sorted(c, key=lambda t: (-c[t], first_seen[unit][t]))[:per_unit]
            for unit, c in counts.items()
        }
    )
)
