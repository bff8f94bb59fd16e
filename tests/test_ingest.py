"""Bronze ingest end to end: real streams, real Delta tables, generated trouble."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

import bronze.ingest
import lakehouse.delta
from bronze.envelope import Reason
from bronze.ingest import start_ingest
from lakehouse.streaming import run_until_stopped
from lakehouse import delta
from lakehouse.config import with_values
from lakehouse.synthetic.writer import GenerateSpec, generate
from lakehouse.tables import Lake
from tests.helpers import classes_compiled, expected_records_per_file, landed_records_per_file

pytestmark = pytest.mark.integration
DAY = datetime(2026, 11, 1, tzinfo=timezone.utc)


def ingest_available_now(spark, config):
    query = start_ingest(spark, config, available_now=True)
    run_until_stopped(query)


def test_every_record_lands_once_plain_gzip_and_batches(spark, lake_config):
    landing = lake_config.landing.dir
    plain = generate(landing, GenerateSpec(events=6000, events_per_file=2000, seed=1, day=DAY, trouble_rate=0.05))
    zipped = generate(landing, GenerateSpec(events=4000, events_per_file=2000, seed=2, day=DAY, trouble_rate=0.05,
                                            gzip=True))
    ingest_available_now(spark, lake_config)

    lake = Lake(lake_config.lake.dir)
    expected = expected_records_per_file(landing)
    assert landed_records_per_file(spark, lake) == expected
    quarantine_df = delta.read_table(spark, lake.bronze_quarantine)
    assert quarantine_df.count() == plain.expected_quarantine + zipped.expected_quarantine
    reasons = {r.reason for r in quarantine_df.select("reason").distinct().collect()}
    assert {Reason.INVALID_JSON, Reason.MISSING_TYPE, Reason.MISSING_IDENTITY, Reason.OVERSIZED} <= reasons

    events_df = delta.read_table(spark, lake.bronze_events)
    assert events_df.filter(F.col("batch_index").isNotNull()).count() > 0  # batch envelopes were exploded
    assert events_df.filter(F.col("message_id").isNull() | F.col("type").isNull()).count() == 0
    assert events_df.filter(F.col("source_file").endswith(".gz")).count() > 0

    metrics = delta.read_table(spark, lake.metrics("bronze_ingest")).agg(
        F.sum("records_in").alias("records"), F.sum("quarantined").alias("quarantined"),
        F.sum("lines_in").alias("lines"), F.sum("files").alias("files"),
        F.max("newest_event_age_s").alias("age")).first()
    assert metrics.records == sum(expected.values())
    assert metrics.quarantined == quarantine_df.count()
    assert metrics.lines == plain.lines + zipped.lines
    assert metrics.files == len(plain.files) + len(zipped.files)
    assert metrics.age > 0

    # A second run finds no new file and writes nothing.
    rows_before = delta.read_table(spark, lake.bronze_events).count()
    ingest_available_now(spark, lake_config)
    assert delta.read_table(spark, lake.bronze_events).count() == rows_before


def test_held_quarantine_rows_equal_the_second_pass(spark, lake_config, tmp_path, monkeypatch, caplog):
    generate(lake_config.landing.dir, GenerateSpec(events=3000, events_per_file=1500, seed=4, day=DAY,
                                                   trouble_rate=0.1))
    caplog.set_level(logging.INFO, logger="lakehouse.bronze")
    ingest_available_now(spark, lake_config)
    assert "re-reading their lines" not in caplog.text  # the heaps held every quarantined record

    caplog.clear()
    monkeypatch.setattr(bronze.ingest, "_HEAPS", ((4096, 1),))  # overflows: the second pass runs
    second = with_values(lake_config, lake={"dir": str(tmp_path / "second-lake")})
    ingest_available_now(spark, second)
    assert "re-reading their lines" in caplog.text

    def quarantine(config):  # without the ingest time, which stands in for a missing receivedAt
        return (delta.read_table(spark, Lake(config.lake.dir).bronze_quarantine)
                .withColumn("received_at", F.when(F.col("received_at") != F.col("ingested_at"), F.col("received_at")))
                .drop("ingested_at", "received_date"))

    held_df = quarantine(lake_config)
    assert held_df.filter(F.col("reason") == Reason.OVERSIZED).count() > 0  # texts past 4 KB held too
    assert_df_equality(held_df, quarantine(second), ignore_row_order=True)


def test_crash_between_table_writes_replays_without_duplicates(spark, lake_config, monkeypatch):
    landing = lake_config.landing.dir
    generate(landing, GenerateSpec(events=3000, events_per_file=1000, seed=3, day=DAY, trouble_rate=0.05))
    lake = Lake(lake_config.lake.dir)
    real_append = lakehouse.delta.append
    calls = []

    def crash_on_second_quarantine_write(df, path, **kwargs):
        if path == lake.bronze_quarantine:
            calls.append(path)
            if len(calls) == 2:  # batch 1's events are committed, its quarantine is not
                raise RuntimeError("simulated crash")
        return real_append(df, path, **kwargs)

    monkeypatch.setattr(lakehouse.delta, "append", crash_on_second_quarantine_write)
    config = _one_file_per_batch(lake_config)
    with pytest.raises(Exception, match="simulated crash"):
        ingest_available_now(spark, config)
    assert 0 < delta.read_table(spark, lake.metrics("bronze_ingest")).count() < 3
    monkeypatch.setattr(lakehouse.delta, "append", real_append)

    ingest_available_now(spark, config)
    assert landed_records_per_file(spark, lake) == expected_records_per_file(landing)
    assert delta.read_table(spark, lake.metrics("bronze_ingest")).count() == 3


def _one_file_per_batch(config):
    return with_values(config, bronze={"max_files_per_trigger": 1, "trigger_seconds": 1})


def _delta_versions(table_path: str) -> int:
    return len(list(Path(table_path, "_delta_log").glob("*.json")))


def _start_cli(config, *args):
    env = dict(os.environ, LAKEHOUSE_LAKE_DIR=config.lake.dir, LAKEHOUSE_LANDING_DIR=config.landing.dir,
               LAKEHOUSE_SPARK_MASTER="local[2]", LAKEHOUSE_SPARK_DRIVER_MEMORY="1g",
               LAKEHOUSE_SPARK_SHUFFLE_PARTITIONS="2")
    return subprocess.Popen([sys.executable, "-m", "lakehouse", "ingest", *args], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_batches(process, metrics_path: str, batches: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while _delta_versions(metrics_path) < batches + 1:  # version 0 is the table's creation
        if process.poll() is not None:
            raise AssertionError(f"ingest exited early:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError("ingest made no progress")
        time.sleep(0.1)


def test_sigterm_stops_cleanly_and_kill_9_loses_nothing(spark, lake_config):
    landing = lake_config.landing.dir
    generate(landing, GenerateSpec(events=12_000, events_per_file=1000, seed=4, day=DAY, trouble_rate=0.05))
    lake = Lake(lake_config.lake.dir)
    metrics_path = lake.metrics("bronze_ingest")

    # 1. A clean stop: SIGTERM lets the running batch finish and exits 0.
    process = _start_cli(lake_config, "--trigger-seconds", "1", "--max-files-per-trigger", "1")
    _wait_for_batches(process, metrics_path, 1)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output

    done = _delta_versions(metrics_path) - 1
    assert done < 12, "SIGTERM should stop after the running batch, not drain the backlog"

    # 2. kill -9 of the whole process group (Python and its JVM) at a random moment mid-stream.
    process = _start_cli(lake_config, "--trigger-seconds", "1", "--max-files-per-trigger", "1")
    _wait_for_batches(process, metrics_path, done + 1)
    time.sleep(random.Random().uniform(0.0, 1.5))
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert _delta_versions(metrics_path) - 1 < 12, "the kill came too late to test a restart"

    # 3. Restart: every record is there exactly once.
    ingest_available_now(spark, _one_file_per_batch(lake_config))
    assert landed_records_per_file(spark, lake) == expected_records_per_file(landing)


def test_a_batch_after_the_first_compiles_no_new_code(spark, lake_config):
    """A batch's id and time reach its rows from a broadcast frame, not as literals: Spark writes a
    literal into the generated Java code, so each batch compiled new classes (2 a batch) and ran
    its hot loops in the JVM's interpreter again."""
    from bronze.ingest import BatchWriter, IngestPaths, ensure_tables

    generate(lake_config.landing.dir, GenerateSpec(events=900, events_per_file=300, seed=9, day=DAY, trouble_rate=0.1))
    files = sorted(str(p) for p in Path(lake_config.landing.dir).rglob("*.jsonl*"))
    paths = IngestPaths.from_config(lake_config)
    ensure_tables(spark, paths)
    writer = BatchWriter(lake_config, paths)
    writer._app_id = "compiles-once"  # no stream runs here to give its checkpoint's id
    compiled = [classes_compiled(spark, partial(writer, spark.read.text([path]).select(
                    "value", F.col("_metadata.file_path").alias("source_file")), batch_id))
                for batch_id, path in enumerate(files)]
    assert len(compiled) == 3 and compiled[1:] == [0, 0]
    batches = delta.read_table(spark, paths.events).groupBy("batch_id").agg(F.countDistinct("ingested_at").alias("n"))
    assert sorted((r["batch_id"], r["n"]) for r in batches.collect()) == [(0, 1), (1, 1), (2, 1)]
