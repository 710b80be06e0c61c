"""The peer for the dataset-store benchmark: DuckDB answering the same point
query (all records of one unit) on the same Parquet files.

usage: duckdb_point_query.py DATASET UNITS QUERIES SEED  -> JSON on stdout"""
import json
import random
import statistics
import sys
import time

import duckdb

path, units, queries, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
con = duckdb.connect()
glob = f"{path}/records/*.parquet"
query = f"SELECT * FROM read_parquet('{glob}') WHERE unit_id = ?"
rng = random.Random(seed)
con.execute(query, [0]).to_arrow_table()  # warm-up: plan and file listing
times, rows = [], 0
for _ in range(queries):
    unit = rng.randrange(units)
    start = time.perf_counter()
    table = con.execute(query, [unit]).to_arrow_table()
    times.append((time.perf_counter() - start) * 1000)
    rows += table.num_rows
times.sort()
print(json.dumps({
    "queries": queries,
    "rows": rows,
    "p50_ms": statistics.median(times),
    "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))],
    "mean_ms": statistics.fmean(times),
    "duckdb": duckdb.__version__,
}))
