"""Quality gate time as a share of the gold build time, same lake, same run.

    .venv/bin/python benchmarks/quality_gate.py --events 1000000
    .venv/bin/python benchmarks/quality_gate.py --lake benchmarks/out/silver/lake   # reuse a built silver

1. Unless ``--lake`` names a lake whose silver is built: generates N events and runs bronze and
   silver into a fresh lake (not timed here; see silver_throughput.py).
2. Times the gold build (``run_gold``: all four models), then the quality gate over every table
   with a suite (bronze.events, silver tracks/pages/screens/identifies/users, the gold models).
3. Appends nothing and runs the gate again (a scheduled run with no new data).
4. Lands ``--more-events`` more events (another seed) through bronze and silver (not timed), then
   times the gold build and the gate again: an incremental run, which validates the new rows
   (key uniqueness for their keys) instead of the whole tables. This appends to the lake.
Prints each gate time as a share of the gold build before it (goal: under 25%).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

from bronze.ingest import start_ingest
from gold.job import run_gold
from lakehouse import delta
from lakehouse.config import load_config, with_values
from lakehouse.spark import build_session
from lakehouse.streaming import run_until_stopped
from lakehouse.synthetic.writer import GenerateSpec, generate
from lakehouse.tables import Lake, join
from quality.gate import run_gate
from silver.job import start_silver


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("py4j", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--lake", default="", help="an existing lake with silver built (skips steps 1)")
    parser.add_argument("--more-events", type=int, default=None, help="events of the incremental run (default: a tenth)")
    parser.add_argument("--workdir", default="benchmarks/out/quality")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Spark conf (repeatable)")
    args = parser.parse_args()

    work = Path(args.workdir).resolve()
    lake_dir = Path(args.lake).resolve() if args.lake else work / "lake"
    config = load_config(env={"LAKEHOUSE_LAKE_DIR": str(lake_dir), "LAKEHOUSE_LANDING_DIR": str(work / "landing"),
                              "LAKEHOUSE_SPARK_MASTER": args.master})
    config = with_values(config, spark={"conf": dict(item.split("=", 1) for item in args.spark_conf)})
    spark = build_session(config.spark)
    lake = Lake(config.lake.dir)
    if not args.lake:
        shutil.rmtree(work, ignore_errors=True)
        generate(work / "landing", GenerateSpec(events=args.events, events_per_file=10_000, seed=11))
        run_until_stopped(start_ingest(spark, config, available_now=True))
        run_until_stopped(start_silver(spark, config, available_now=True))
    for folder in ("gold", "quality", "reports"):  # this benchmark's own outputs start empty
        delta.remove_tree(spark, join(lake.root, folder))
    events = delta.read_table(spark, lake.bronze_events).count()

    started = time.perf_counter()
    models = run_gold(spark, config)
    gold_s = time.perf_counter() - started
    started = time.perf_counter()
    verdicts = run_gate(spark, config, raise_on_failure=False)
    gate_s = time.perf_counter() - started
    started = time.perf_counter()
    run_gate(spark, config, raise_on_failure=False)
    again_s = time.perf_counter() - started

    more = args.more_events if args.more_events is not None else args.events // 10
    generate(work / "landing", GenerateSpec(events=more, events_per_file=10_000, seed=12))
    run_until_stopped(start_ingest(spark, config, available_now=True))
    run_until_stopped(start_silver(spark, config, available_now=True))
    started = time.perf_counter()
    run_gold(spark, config)
    gold_more_s = time.perf_counter() - started
    started = time.perf_counter()
    incremental = run_gate(spark, config, raise_on_failure=False)
    incremental_s = time.perf_counter() - started
    modes = ", ".join(f"{mode} {sum(v.mode == mode for v in incremental)}" for mode in ("full", "incremental", "unchanged"))

    print(f"lake: {events:,} bronze events; gold rows: " + ", ".join(f"{m.table} {m.rows:,}" for m in models))
    print(f"gate tables: {len(verdicts)}, passed {sum(v.passed for v in verdicts)}")
    print(f"gold build (4 models)        : {gold_s:7.1f}s")
    print(f"quality gate, first run      : {gate_s:7.1f}s  {gate_s / gold_s:6.1%} of the gold build  (goal < 25%)")
    print(f"quality gate, no new data    : {again_s:7.1f}s  {again_s / gold_s:6.1%} of the gold build")
    print(f"gold build after {more:,} more events: {gold_more_s:7.1f}s")
    print(f"quality gate, incremental    : {incremental_s:7.1f}s  {incremental_s / gold_more_s:6.1%} of that gold build  "
          f"(tables: {modes})")


if __name__ == "__main__":
    main()
