"""Silver throughput against bronze's on the same events, same run.

    .venv/bin/python benchmarks/silver_throughput.py --events 1000000

1. Generates N realistic events (~1 KB each, 200 event names, 2% trouble, properties that first
   appear part-way through the day) into a landing folder.
2. Bronze: the streaming ingest (``availableNow``) into a fresh lake; events/s.
3. Silver: the silver stream (``availableNow``) over that bronze table; events/s, per batch the
   tables written, new columns and seconds.
Prints both rates and silver / bronze (goal: silver keeps up with bronze, ratio >= 1.0).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

from bronze.ingest import start_ingest
from lakehouse import delta
from lakehouse.config import load_config, with_values
from lakehouse.spark import build_session
from lakehouse.streaming import run_until_stopped
from lakehouse.synthetic.writer import GenerateSpec, generate
from lakehouse.tables import Lake
from silver.job import start_silver


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--events-per-file", type=int, default=10_000)
    parser.add_argument("--silver-files-per-trigger", type=int, default=None,
                        help="bronze files per silver batch (default silver.max_files_per_trigger)")
    parser.add_argument("--write-parallelism", type=int, default=None)
    parser.add_argument("--workdir", default="benchmarks/out/silver")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Spark conf for both runs (repeatable)")
    args = parser.parse_args()

    work = Path(args.workdir).resolve()
    shutil.rmtree(work, ignore_errors=True)
    landing = work / "landing"
    report = generate(landing, GenerateSpec(events=args.events, events_per_file=args.events_per_file, seed=11))
    print(f"generated {report.messages:,} events, {report.bytes / 1e6:.0f} MB, {len(report.files)} files")

    config = load_config(env={"LAKEHOUSE_LAKE_DIR": str(work / "lake"), "LAKEHOUSE_LANDING_DIR": str(landing),
                              "LAKEHOUSE_SPARK_MASTER": args.master})
    silver = {"max_files_per_trigger": args.silver_files_per_trigger, "write_parallelism": args.write_parallelism}
    config = with_values(config, silver={k: v for k, v in silver.items() if v is not None},
                         spark={"conf": dict(item.split("=", 1) for item in args.spark_conf)})
    spark = build_session(config.spark)
    lake = Lake(config.lake.dir)

    started = time.perf_counter()
    run_until_stopped(start_ingest(spark, config, available_now=True))
    bronze_s = time.perf_counter() - started
    bronze_rows = delta.read_table(spark, lake.bronze_events).count()

    started = time.perf_counter()
    run_until_stopped(start_silver(spark, config, available_now=True))
    silver_s = time.perf_counter() - started

    batches = delta.read_table(spark, lake.metrics("silver")).orderBy("batch_id").collect()
    for b in batches:
        print(f"  silver batch {b['batch_id']}: {b['rows_in']:,} rows, {b['tables_written']} tables, "
              f"{b['new_columns']} new columns, {b['duration_s']:.1f}s")
    silver_rows = sum(b["rows_in"] for b in batches)
    bronze_rate, silver_rate = bronze_rows / bronze_s, silver_rows / silver_s
    print(f"bronze  streaming ingest           : {bronze_s:7.1f}s  {bronze_rate:10,.0f} events/s")
    print(f"silver  {len(batches)} batch(es) over bronze     : {silver_s:7.1f}s  {silver_rate:10,.0f} events/s")
    print(f"ratio   silver / bronze            : {silver_rate / bronze_rate:7.2f}  (goal >= 1.0)")


if __name__ == "__main__":
    main()
