"""The dataset format v1 as pyarrow schemas, written from docs/dataset-format.md
alone (not from the Rust code), plus a writer that follows the documentation.
The tests use it both to check what featurescope writes and to write datasets
that featurescope must read."""
import json
import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

F64_LIST = pa.list_(pa.float64())
I64_LIST = pa.list_(pa.int64())

UNITS = pa.schema([
    pa.field("unit_id", pa.int64(), nullable=False),
    pa.field("layer", pa.int32(), nullable=False),
    pa.field("index", pa.int32(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("max", pa.float64(), nullable=False),
    pa.field("mean", pa.float64()),
    pa.field("variance", pa.float64()),
    pa.field("density", pa.float64()),
    pa.field("quantile_boundaries", F64_LIST, nullable=False),
    pa.field("histogram_edges", F64_LIST, nullable=False),
    pa.field("histogram_counts", I64_LIST, nullable=False),
])

RECORDS = pa.schema([
    pa.field("record_id", pa.int64(), nullable=False),
    pa.field("unit_id", pa.int64(), nullable=False),
    pa.field("sample_kind", pa.string(), nullable=False),
    pa.field("quantile_bin", pa.int32()),
    pa.field("rank", pa.int32(), nullable=False),
    pa.field("document_id", pa.int64()),
    pa.field("token_offset", pa.int64()),
    pa.field("tokens", pa.list_(pa.string()), nullable=False),
    pa.field("activations", pa.list_(pa.float32()), nullable=False),
])

EXPLANATIONS = pa.schema([
    pa.field("explanation_id", pa.string(), nullable=False),
    pa.field("unit_id", pa.int64(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("explainer_model", pa.string(), nullable=False),
    pa.field("method", pa.string(), nullable=False),
    pa.field("parent_id", pa.string()),
    pa.field("evidence_record_ids", I64_LIST, nullable=False),
    pa.field("created_at", pa.timestamp("ms", tz="UTC"), nullable=False),
])

SCORES = pa.schema([
    pa.field("score_id", pa.string(), nullable=False),
    pa.field("explanation_id", pa.string(), nullable=False),
    pa.field("unit_id", pa.int64(), nullable=False),
    pa.field("simulator_model", pa.string(), nullable=False),
    pa.field("method", pa.string(), nullable=False),
    pa.field("record_set", pa.string(), nullable=False),
    pa.field("score", pa.float64()),
    pa.field("r_squared", pa.float64()),
    pa.field("absolute_dev_explained", pa.float64()),
    pa.field("record_ids", I64_LIST, nullable=False),
    pa.field("simulated", pa.list_(pa.list_(pa.float32())), nullable=False),
    pa.field("created_at", pa.timestamp("ms", tz="UTC"), nullable=False),
])


def same_types(found: pa.Schema, expected: pa.Schema) -> list:
    """Problems with `found`: missing, extra or mistyped columns (list item
    names may differ between writers; nullability is checked on the values,
    by value_problems)."""
    problems = []
    for field in expected:
        if field.name not in found.names:
            problems.append(f"missing {field.name}")
        elif not found.field(field.name).type.equals(field.type, check_metadata=False):
            problems.append(f"{field.name}: {found.field(field.name).type} != {field.type}")
    problems += [f"extra {n}" for n in found.names if n not in expected.names]
    return problems


def value_problems(table: pa.Table, expected: pa.Schema) -> list:
    """What docs/dataset-format.md forbids in the values of `table`: a null
    in a column that is not nullable, a null list item, and a float that is
    NaN or infinite."""
    problems = []
    for field in expected:
        if field.name not in table.column_names:
            continue
        column = table.column(field.name)
        if not field.nullable and column.null_count:
            problems.append(f"{field.name}: {column.null_count} null(s) in a non-nullable column")
        values, depth = column.combine_chunks(), 0
        while pa.types.is_list(values.type):
            values, depth = values.flatten(), depth + 1
            if values.null_count:
                problems.append(f"{field.name}: {values.null_count} null list item(s)")
        if pa.types.is_floating(values.type):
            finite = pc.is_finite(values.drop_null())
            bad = len(finite) - pc.sum(finite).as_py() if len(finite) else 0
            if bad:
                problems.append(f"{field.name}: {bad} NaN or infinite value(s)")
    return problems


def write_dataset(path, units, records, explanations=(), scores=(), manifest_extra=None):
    """Writes a dataset the way docs/dataset-format.md describes: rows are
    dicts keyed by column name; records must be sorted by unit_id."""
    os.makedirs(os.path.join(path, "records"), exist_ok=True)
    manifest = {"format": "featurescope-dataset", "format_version": 1,
                "created_by": "pyarrow test writer"}
    manifest.update(manifest_extra or {})
    with open(os.path.join(path, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    pq.write_table(pa.Table.from_pylist(units, schema=UNITS), os.path.join(path, "units.parquet"))
    pq.write_table(pa.Table.from_pylist(records, schema=RECORDS),
                   os.path.join(path, "records", "part-00000.parquet"))
    for name, rows, schema in (("explanations", explanations, EXPLANATIONS), ("scores", scores, SCORES)):
        if rows:
            os.makedirs(os.path.join(path, name), exist_ok=True)
            pq.write_table(pa.Table.from_pylist(list(rows), schema=schema),
                           os.path.join(path, name, "part-0.parquet"))
