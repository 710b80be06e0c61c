"""The peer for the dataset-store benchmark: DuckDB answering the same point
query (all records of one unit) for the same sequence of units, in each
setup a DuckDB user would reasonably pick:

  default   a default connection querying the Parquet files with read_parquet;
  cached    the same with DuckDB's object and Parquet metadata caches on
            (SET enable_object_cache / parquet_metadata_cache), so footers
            are read once, not per query;
  table     the records imported once into a DuckDB table in a database file
            (import time and file size reported), no index: the rows keep
            the files' unit order (DuckDB preserves insertion order), so each
            row group's min/max of unit_id (its zonemap) lets a query scan
            the one row group holding the unit;
  indexed   the same table with an ART index on unit_id. At 15 M records of
            64 tokens the index scan is slower than the zonemap scan: it
            fetches the list columns row by row.

usage: duckdb_point_query.py DATASET QUERIES_FILE THREADS SETUP RUNS DB_FILE
QUERIES_FILE holds one unit id per line. Prints one JSON line: per run, the
p50 and p99 latency over the whole sequence."""
import json
import os
import sys
import time

import duckdb

path, queries_file, threads, setup, runs, db_file = sys.argv[1:7]
units = [int(line) for line in open(queries_file) if line.strip()]
glob = f"{path}/records/*.parquet"
result = {"setup": setup, "duckdb": duckdb.__version__, "queries": len(units)}
if setup in ("table", "indexed"):
    if os.path.exists(db_file):
        os.remove(db_file)
    con = duckdb.connect(db_file)
    con.execute(f"SET threads={int(threads)}")
    start = time.perf_counter()
    con.execute(f"CREATE TABLE records AS SELECT * FROM read_parquet('{glob}')")
    if setup == "indexed":
        con.execute("CREATE INDEX records_unit ON records (unit_id)")
    con.execute("CHECKPOINT")
    result["import_s"] = time.perf_counter() - start
    result["database_bytes"] = os.path.getsize(db_file)
    query = "SELECT * FROM records WHERE unit_id = ?"
else:
    con = duckdb.connect()
    con.execute(f"SET threads={int(threads)}")
    if setup == "cached":
        con.execute("SET enable_object_cache = true")
        con.execute("SET parquet_metadata_cache = true")
    elif setup != "default":
        raise SystemExit(f"unknown setup {setup}")
    query = f"SELECT * FROM read_parquet('{glob}') WHERE unit_id = ?"
con.execute(query, [units[0]]).to_arrow_table()  # warm-up: plan, file listing, caches
result["runs"] = []
for _ in range(int(runs)):
    times, rows = [], 0
    for unit in units:
        start = time.perf_counter()
        rows += con.execute(query, [unit]).to_arrow_table().num_rows
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    # The same rank rule as the Rust side: the value at floor(p * n).
    result["runs"].append({"p50_ms": times[len(times) // 2],
                           "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))],
                           "rows": rows})
print(json.dumps(result))
