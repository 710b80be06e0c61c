"""Reads every table of a dataset with pyarrow, checks each against the
documented schema and value rules (no nulls where none may be, no null list
items, finite floats), and prints facts the Rust test compares with its own reader:
row counts and, per unit, the sum of its activations and its first tokens."""
import json
import os
import sys

import numpy as np
import pyarrow.parquet as pq

from featurescope_format import EXPLANATIONS, RECORDS, SCORES, UNITS, same_types, value_problems

path = sys.argv[1]
problems = {}
out = {}
for name, schema in (("units.parquet", UNITS), ("records", RECORDS),
                     ("explanations", EXPLANATIONS), ("scores", SCORES)):
    full = os.path.join(path, name)
    if not os.path.exists(full):
        continue
    table = pq.read_table(full)
    p = same_types(table.schema, schema) + value_problems(table, schema)
    if p:
        problems[name] = p
    out[name] = {"rows": table.num_rows}
    if name == "records":
        units = table.column("unit_id").to_numpy()
        sums = {}
        for unit, acts in zip(units, table.column("activations").to_pylist()):
            sums[int(unit)] = sums.get(int(unit), 0.0) + float(np.sum(np.asarray(acts, dtype=np.float64)))
        # JSON has no NaN: a sum over a NaN (a dataset the checker rejects) is null.
        out["activation_sum_by_unit"] = {str(k): v if np.isfinite(v) else None for k, v in sums.items()}
        out["first_tokens"] = table.column("tokens")[0].as_py()
    if name == "scores":
        out["scores"] = table.column("score").to_pylist()
        out["simulated_lengths"] = [len(s) for s in table.column("simulated").to_pylist()]
    if name == "explanations":
        out["texts"] = sorted(table.column("text").to_pylist())
out["problems"] = problems
print(json.dumps(out))
