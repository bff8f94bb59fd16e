"""Bronze ingest throughput against a plain Spark batch ceiling on the same files, same run.

    .venv/bin/python benchmarks/bronze_ingest.py --events 1000000

1. Generates N realistic events (~1 KB each, 2% trouble, batch envelopes) into a landing folder.
2. Ceiling: ``spark.read.text -> from_json(envelope) -> write delta`` of the same files, one batch.
3. The bronze streaming job (``availableNow``, ``bronze.max_files_per_trigger`` files per
   micro-batch) into a fresh lake: parse, validate, explode envelopes, quarantine, metrics, all
   with idempotent Delta writes.
Prints events/s for both and the ratio (goal: streaming >= 0.7 of the ceiling on 2 cores).
``--rounds N`` repeats steps 2 and 3 N times in the same process, on fresh outputs: the later
rounds show both paths with the JVM fully warm (the one-file warm-up leaves it partly cold).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType, StructField, StructType

from bronze.envelope import MESSAGE_FIELDS
from bronze.ingest import start_ingest
from lakehouse.streaming import run_until_stopped
from lakehouse import delta
from lakehouse.config import load_config, with_values
from lakehouse.spark import build_session
from lakehouse.synthetic.writer import GenerateSpec, generate
from lakehouse.tables import Lake


# The envelope as from_json reads it: every field as text, a batch's members as their JSON text.
LINE_SCHEMA = StructType([StructField(name, StringType()) for name in MESSAGE_FIELDS]
                         + [StructField("batch", ArrayType(StringType()))])


def ceiling(spark, landing: str, out: str) -> None:
    lines_df = spark.read.text(landing)
    parsed_df = lines_df.select(F.col("value").alias("raw"), F.from_json("value", LINE_SCHEMA).alias("e"))
    parsed_df.select("raw", "e.*").write.format("delta").mode("overwrite").save(out)


def main() -> None:
    # DEBUG shows each batch's per-pass timings (bronze.ingest logs them at debug level).
    logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(message)s")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--events-per-file", type=int, default=10_000)
    parser.add_argument("--max-files-per-trigger", type=int, default=None)
    parser.add_argument("--workdir", default="benchmarks/out/bronze")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--rounds", type=int, default=1, help="measure ceiling and stream this many times")
    parser.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE",
                        help="extra Spark conf for both runs (repeatable)")
    args = parser.parse_args()

    work = Path(args.workdir).resolve()
    shutil.rmtree(work, ignore_errors=True)
    landing = work / "landing"
    started = time.perf_counter()
    report = generate(landing, GenerateSpec(events=args.events, events_per_file=args.events_per_file, seed=11))
    print(f"generated {report.messages:,} events, {report.bytes / 1e6:.0f} MB, {len(report.files)} files "
          f"in {time.perf_counter() - started:.1f}s")

    config = load_config(env={"LAKEHOUSE_LAKE_DIR": str(work / "lake"), "LAKEHOUSE_LANDING_DIR": str(landing),
                              "LAKEHOUSE_SPARK_MASTER": args.master})
    config = with_values(config, spark={"conf": dict(item.split("=", 1) for item in args.spark_conf)})
    if args.max_files_per_trigger:
        config = with_values(config, bronze={"max_files_per_trigger": args.max_files_per_trigger})
    spark = build_session(config.spark)

    # Warm the JVM (class loading, JIT) on one file, through both code paths, so neither
    # measured run pays for it.
    ceiling(spark, report.files[0], str(work / "warmup"))
    warm_landing = work / "warm-landing"
    warm_landing.mkdir()
    shutil.copy(report.files[0], warm_landing)
    warm_config = with_values(config, lake={"dir": str(work / "warm-lake")}, landing={"dir": str(warm_landing)})
    run_until_stopped(start_ingest(spark, warm_config, available_now=True))

    for round_ in range(1, args.rounds + 1):
        if args.rounds > 1:
            print(f"round {round_} of {args.rounds}")
            shutil.rmtree(work / "ceiling", ignore_errors=True)
            shutil.rmtree(work / "lake", ignore_errors=True)
        measure(spark, config, report, landing, work)


def measure(spark, config, report, landing: Path, work: Path) -> None:
    """Time the ceiling, then the stream into ``config``'s (fresh) lake, and print both."""
    started = time.perf_counter()
    ceiling(spark, str(landing), str(work / "ceiling"))
    ceiling_s = time.perf_counter() - started

    started = time.perf_counter()
    run_until_stopped(start_ingest(spark, config, available_now=True))
    stream_s = time.perf_counter() - started

    lake = Lake(config.lake.dir)
    landed = delta.read_table(spark, lake.bronze_events).count() + delta.read_table(spark, lake.bronze_quarantine).count()
    batches = delta.read_table(spark, lake.metrics("bronze_ingest")).count()
    ceiling_rate = report.messages / ceiling_s
    stream_rate = report.messages / stream_s
    print(f"ceiling   read.text -> from_json -> delta : {ceiling_s:7.1f}s  {ceiling_rate:10,.0f} events/s")
    print(f"bronze    streaming ingest ({batches} batches)  : {stream_s:7.1f}s  {stream_rate:10,.0f} events/s  "
          f"({landed:,} records landed)")
    print(f"ratio     bronze / ceiling                : {stream_rate / ceiling_rate:7.2f}  (goal >= 0.70)")


if __name__ == "__main__":
    main()
