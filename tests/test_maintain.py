"""lakehouse maintain: recent partitions compacted, older ones left, content unchanged."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from lakehouse import delta
from lakehouse.config import load_config
from lakehouse.errors import ConfigError
from lakehouse.maintenance import LISTING_PARALLELISM, maintain
from lakehouse.tables import Lake
from tests.helpers import tasks_run_by

pytestmark = pytest.mark.integration
TODAY = date(2026, 11, 27)


def test_recent_partitions_are_compacted_and_older_ones_left(spark, lake_config):
    lake = Lake(lake_config.lake.dir)
    path = lake.silver("tracks")
    old = TODAY - timedelta(days=10)
    for batch in range(4):  # four micro-batches: four small files in each partition
        rows = [(f"m{batch}-{i}", day) for i in range(3) for day in (TODAY, old)]
        delta.append(spark.createDataFrame(rows, "id string, received_date date"), path, partition_by=("received_date",))
    delta.append(spark.createDataFrame([("x",)], "id string"), lake.metrics("silver"))
    before = sorted(r["id"] for r in delta.read_table(spark, path).collect())
    files_before = spark.read.format("delta").load(path).inputFiles()
    today_files = sum(f"received_date={TODAY.isoformat()}" in f for f in files_before)
    old_files = sum(f"received_date={old.isoformat()}" in f for f in files_before)
    assert today_files >= 4 and old_files >= 4  # at least one file per micro-batch

    listing_parallelism = spark.conf.get(LISTING_PARALLELISM, None)
    results = {}
    tasks = tasks_run_by(spark, lambda: results.update(
        {r.table: r for r in maintain(spark, lake.root, recent_days=2, retention_hours=168, today=TODAY)}))
    # Two tiny tables: a few hundred tasks. With Spark's default listing parallelism (10,000 tasks
    # a stage) VACUUM alone ran about 100,000 for one of them.
    assert tasks < 5_000, tasks
    assert spark.conf.get(LISTING_PARALLELISM, None) == listing_parallelism  # the session's own, restored

    assert (results["silver/tracks"].files_removed, results["silver/tracks"].files_added) == (today_files, 1)
    assert "metrics/silver" in results and results["silver/tracks"].vacuumed
    assert sorted(r["id"] for r in delta.read_table(spark, path).collect()) == before
    files = spark.read.format("delta").load(path).inputFiles()
    assert sum(f"received_date={old.isoformat()}" in f for f in files) == old_files  # outside recent_days: untouched
    assert sum(f"received_date={TODAY.isoformat()}" in f for f in files) == 1


def test_a_vacuum_retention_shorter_than_a_week_is_refused():
    with pytest.raises(ConfigError, match="maintain.vacuum_retention_hours"):
        load_config(env={"LAKEHOUSE_MAINTAIN_VACUUM_RETENTION_HOURS": "24"})
