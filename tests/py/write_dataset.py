"""Writes a small dataset with pyarrow following docs/dataset-format.md, or one
with a named defect, for the interop and bad-input tests.

usage: write_dataset.py DIR [DEFECT]"""
import math
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from featurescope_format import RECORDS, UNITS, write_dataset

path = sys.argv[1]
defect = sys.argv[2] if len(sys.argv) > 2 else None

WORDS = ["The", " cat", " sat", " on", " the", " mat", ".", "\n"]
units, records = [], []
for unit_id in range(4):
    units.append({"unit_id": unit_id, "layer": unit_id // 2, "index": unit_id % 2, "kind": "neuron",
                  "max": 4.0 + unit_id, "mean": 0.1, "variance": 0.5, "density": 0.25,
                  "quantile_boundaries": [0.0, 0.5, 1.0, 2.0],
                  "histogram_edges": [0.0, 1.0, 2.0], "histogram_counts": [10, 3]})
    for rank, (kind, qbin) in enumerate([("top", None), ("top", None), ("quantile", 0), ("random", None)]):
        acts = [float((i * 7 + unit_id + rank) % 5) for i in range(len(WORDS))]
        records.append({"record_id": len(records), "unit_id": unit_id, "sample_kind": kind,
                        "quantile_bin": qbin, "rank": rank if kind == "top" else 0,
                        "document_id": 100 + rank, "token_offset": 64 * rank,
                        "tokens": WORDS, "activations": acts})
explanations = [{"explanation_id": "e1", "unit_id": 1, "text": "cats on mats",
                 "explainer_model": "m", "method": "top-activations", "parent_id": None,
                 "evidence_record_ids": [4, 5], "created_at": 1700000000000},
                {"explanation_id": "e2", "unit_id": 1, "text": "the word cat after The",
                 "explainer_model": "m", "method": "revision", "parent_id": "e1",
                 "evidence_record_ids": [4, 5], "created_at": 1700000001000}]
scores = [{"score_id": "s1", "explanation_id": "e2", "unit_id": 1, "simulator_model": "m",
           "method": "all-at-once-logprobs", "record_set": "top-and-random", "score": 0.5,
           "r_squared": 0.25, "absolute_dev_explained": 0.1, "record_ids": [6, 7],
           "simulated": [[0.0] * 8, [1.0] * 8], "created_at": 1700000002000}]

units_schema, records_schema = UNITS, RECORDS
manifest = {"subject_model": {"name": "pyarrow-written"}, "hook_point": "mlp", "window_tokens": 8}
if defect == "missing_column":
    records_schema = RECORDS.remove(RECORDS.get_field_index("rank"))
    for r in records:
        del r["rank"]
elif defect == "extra_column":
    units_schema = UNITS.append(pa.field("colour", pa.string()))
    for u in units:
        u["colour"] = "red"
elif defect == "wrong_type":
    records_schema = RECORDS.set(RECORDS.get_field_index("rank"), pa.field("rank", pa.string()))
    for r in records:
        r["rank"] = str(r["rank"])
elif defect == "length_mismatch":
    records[5]["activations"] = records[5]["activations"][:-1]
elif defect == "nan":
    records[6]["activations"][2] = math.nan
elif defect == "null_value":
    records_schema = RECORDS.set(RECORDS.get_field_index("rank"), pa.field("rank", pa.int32()))
    records[3]["rank"] = None
elif defect == "null_item":
    records[4]["activations"][1] = None
elif defect == "infinite":
    units[2]["max"] = math.inf
elif defect == "no_records":
    records = [r for r in records if r["unit_id"] != 2]
    for i, r in enumerate(records):
        r["record_id"] = i
elif defect == "unknown_version":
    manifest["format_version"] = 2
elif defect == "unknown_kind":
    units[3]["kind"] = "feature\x1b[31m"
elif defect is not None and defect not in ("invalid_utf8", "truncated", "corrupt", "split_files"):
    sys.exit(f"unknown defect {defect}")

os.makedirs(path, exist_ok=True)
write_dataset(path, [], [], explanations, scores, manifest)
pq.write_table(pa.Table.from_pylist(units, schema=units_schema), os.path.join(path, "units.parquet"))
records_path = os.path.join(path, "records", "part-00000.parquet")
if defect == "invalid_utf8":
    # pyarrow refuses invalid UTF-8 in strings, so build the column from raw buffers.
    table = pa.Table.from_pylist(records, schema=RECORDS)
    flat = [t.encode() for r in records for t in r["tokens"]]
    flat[9 * 8 + 1] = b"\xff\xfe"
    data = b"".join(flat)
    offsets = [0]
    for b in flat:
        offsets.append(offsets[-1] + len(b))
    strings = pa.Array.from_buffers(pa.string(), len(flat),
                                    [None, pa.py_buffer(pa.array(offsets, pa.int32()).buffers()[1]),
                                     pa.py_buffer(data)])
    tokens = pa.ListArray.from_arrays(pa.array([8 * i for i in range(len(records) + 1)], pa.int32()), strings)
    table = table.set_column(RECORDS.get_field_index("tokens"), RECORDS.field("tokens"), tokens)
    pq.write_table(table, records_path)
elif defect == "split_files":
    # Valid, but unit 1's records span two files and unit 2's another two.
    for part, rows in enumerate((records[:6], records[6:10], records[10:])):
        pq.write_table(pa.Table.from_pylist(rows, schema=RECORDS),
                       os.path.join(path, "records", f"part-{part:05}.parquet"))
else:
    pq.write_table(pa.Table.from_pylist(records, schema=records_schema), records_path)
if defect == "truncated":
    size = os.path.getsize(records_path)
    with open(records_path, "r+b") as f:
        f.truncate(size // 2)
elif defect == "corrupt":
    size = os.path.getsize(records_path)
    with open(records_path, "r+b") as f:
        f.seek(size - 200)
        f.write(b"\x00" * 150)
if defect == "unknown_version":
    import json
    with open(os.path.join(path, "manifest.json")) as f:
        m = json.load(f)
    m["format_version"] = 2
    with open(os.path.join(path, "manifest.json"), "w") as f:
        json.dump(m, f)
