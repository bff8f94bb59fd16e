"""Warehouse load rate: the staged COPY path against row-by-row INSERT, same rows, same run.

    .venv/bin/python benchmarks/warehouse_load.py --rows 1000000

1. Builds N rows of a wide event table (60 columns: ids, timestamps, doubles, bigints, booleans,
   short and long strings, nulls) and stages them as Parquet files of ``--file-rows`` rows, the
   way ``lakehouse export`` does.
2. PostgreSQL (Debian's server, started here in a temporary folder): the export's load
   (``Warehouse.load``, one transaction with the ledger row) of a new table (COPY straight into
   it, in PostgreSQL's binary format; once more in CSV, the earlier way, for comparison) and of
   the same rows merged into that now full table (COPY into a staging table, delete matching
   keys, insert), against two row-by-row baselines on the same rows: one INSERT
   statement and round trip per row, which is what redshift-connector's ``executemany`` does
   (its cursor loops ``execute``), and psycopg 3's ``executemany``, which pipelines the same
   statements. ``--insert-rows`` limits the baselines (their cost is per row, so a sample gives
   their rate).
3. DuckDB: the same two loads into a DuckDB file.
Prints rows/s of each and the ratios (goal: COPY at least 50x row-by-row INSERT).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.servers: the Postgres helper

from lakehouse.warehouse import Load, Target, open_warehouse  # noqa: E402
from lakehouse.warehouse import sql as q  # noqa: E402
from tests.servers import postgres_server  # noqa: E402

ARROW = {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64(), "boolean": pa.bool_(),
         "timestamp": pa.timestamp("us", tz="UTC")}


def wide_columns() -> tuple[tuple[str, str], ...]:
    columns = [("source_id", "string"), ("id", "string"), ("user_id", "string"), ("anonymous_id", "string"),
               ("timestamp", "timestamp"), ("received_at", "timestamp"), ("event", "string")]
    for i in range(12):
        columns += [(f"price_{i}", "double"), (f"quantity_{i}", "bigint"), (f"flag_{i}", "boolean"),
                    (f"label_{i}", "string")]
    columns += [(f"context_field_{i}", "string") for i in range(5)]
    return tuple(columns)


def build_rows(rows: int, columns, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    arrays = {}
    base = np.datetime64("2026-11-01T00:00:00", "us")
    for name, type_ in columns:
        if name == "id":
            values = pa.array([f"msg-{i:012d}" for i in range(rows)])
        elif type_ == "string":
            pool = np.array([f"{name}-{k}-" + "x" * int(k % 40) for k in range(500)] + [None], dtype=object)
            values = pa.array(pool[rng.integers(0, len(pool), rows)], pa.string())
        elif type_ == "double":
            values = pa.array(np.round(rng.random(rows) * 1000, 2))
        elif type_ == "bigint":
            values = pa.array(rng.integers(0, 10_000, rows))
        elif type_ == "boolean":
            values = pa.array(rng.random(rows) < 0.5)
        else:
            values = pa.array(base + rng.integers(0, 86_400_000_000, rows).astype("timedelta64[us]"), ARROW[type_])
        arrays[name] = values.cast(ARROW[type_])
    return pa.table(arrays)


def stage(table: pa.Table, folder: Path, file_rows: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index, start in enumerate(range(0, table.num_rows, file_rows)):
        path = folder / f"part-{index:05d}.parquet"
        pq.write_table(table.slice(start, file_rows), path)
        files.append(str(path))
    return files


def timed_load(warehouse, columns, files, schema: str, version: int) -> float:
    load = Load(Target(schema, "order_completed"), "bench#1", columns, tuple(files), version, version,
                keys=("source_id", "id"), sort_key=("received_at",))
    started = time.perf_counter()
    result = warehouse.load(load)
    seconds = time.perf_counter() - started
    assert result.rows == sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return seconds


def insert_rows(pg, columns, files, limit: int, pipelined: bool) -> tuple[int, float]:
    """Single-row INSERTs into an empty table, one transaction: one round trip per row, or
    psycopg's pipelined ``executemany``."""
    target = Target("baseline", f"order_completed_{'pipelined' if pipelined else 'rows'}")
    names = ", ".join(q.ident(c).sql("postgres") for c, _ in columns)
    statement = f"INSERT INTO {q.table(target).sql('postgres')} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
    rows = []
    for path in files:
        rows += [tuple(r.values()) for r in pq.read_table(path).slice(0, limit - len(rows)).to_pylist()]
        if len(rows) >= limit:
            break
    with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=pg.database) as conn:
        conn.execute(q.create_schema(target.schema, "postgres"))
        conn.execute(q.create_table(target, columns, "postgres"))
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            if pipelined:
                cursor.executemany(statement, rows)
            else:
                for row in rows:
                    cursor.execute(statement, row)
        conn.commit()
        return len(rows), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--insert-rows", type=int, default=100_000, help="rows for the INSERT baseline")
    parser.add_argument("--file-rows", type=int, default=500_000)
    parser.add_argument("--workdir", default="benchmarks/out/warehouse")
    args = parser.parse_args()

    work = Path(args.workdir).resolve()
    shutil.rmtree(work, ignore_errors=True)
    columns = wide_columns()
    started = time.perf_counter()
    files = stage(build_rows(args.rows, columns), work / "staged", args.file_rows)
    size = sum(os.path.getsize(f) for f in files)
    print(f"staged {args.rows:,} rows x {len(columns)} columns: {len(files)} Parquet files, {size / 1e6:.0f} MB, "
          f"in {time.perf_counter() - started:.1f}s")

    with postgres_server() as pg:
        with open_warehouse(pg.url, env={"LAKEHOUSE_WAREHOUSE_PASSWORD": pg.password}) as warehouse:
            copy_s = timed_load(warehouse, columns, files, "analytics", 0)
            merge_s = timed_load(warehouse, columns, files, "analytics", 1)
            warehouse.binary_copy = False
            csv_s = timed_load(warehouse, columns, files, "analytics_csv", 0)
        rows_n, rows_s = insert_rows(pg, columns, files, args.insert_rows, pipelined=False)
        pipe_n, pipe_s = insert_rows(pg, columns, files, args.insert_rows, pipelined=True)
    with open_warehouse(f"duckdb:///{work}/wh.duckdb") as warehouse:
        duck_s = timed_load(warehouse, columns, files, "analytics", 0)
        duck_merge_s = timed_load(warehouse, columns, files, "analytics", 1)

    n = args.rows
    copy_rate, merge_rate, rows_rate, pipe_rate = n / copy_s, n / merge_s, rows_n / rows_s, pipe_n / pipe_s
    print(f"postgres  staged COPY, new table        : {copy_s:7.1f}s  {copy_rate:12,.0f} rows/s  ({n:,} rows)")
    print(f"postgres  staged COPY as CSV, new table :{csv_s:7.1f}s  {n / csv_s:12,.0f} rows/s  "
          f"(binary is {csv_s / copy_s:.2f}x as fast)")
    print(f"postgres  staged COPY, merge by key     : {merge_s:7.1f}s  {merge_rate:12,.0f} rows/s  ({n:,} rows replaced)")
    print(f"postgres  INSERT, a round trip per row  : {rows_s:7.1f}s  {rows_rate:12,.0f} rows/s  ({rows_n:,} rows)")
    print(f"postgres  INSERT, psycopg executemany   : {pipe_s:7.1f}s  {pipe_rate:12,.0f} rows/s  ({pipe_n:,} rows, pipelined)")
    print(f"ratio     COPY new / row-by-row INSERT  : {copy_rate / rows_rate:7.1f}x  (goal >= 50x)")
    print(f"ratio     COPY merge / row-by-row INSERT: {merge_rate / rows_rate:7.1f}x")
    print(f"ratio     COPY new / pipelined INSERT   : {copy_rate / pipe_rate:7.1f}x")
    print(f"duckdb    staged load, new table        : {duck_s:7.1f}s  {n / duck_s:12,.0f} rows/s")
    print(f"duckdb    staged load, merge by key     : {duck_merge_s:7.1f}s  {n / duck_merge_s:12,.0f} rows/s")


if __name__ == "__main__":
    main()
