"""Independent checks of what bronze must hold, computed with Python's json, not Spark."""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from pathlib import Path

from lakehouse.config import BronzeConfig


def expected_records_per_file(folder: str | Path, max_batch_bytes: int = BronzeConfig().max_batch_bytes) -> Counter:
    """File name -> records bronze must account for: one per message of a batch envelope,
    one for every other line (valid or not)."""
    counts: Counter = Counter()
    for path in sorted(Path(folder).glob("*.jsonl*")):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as handle:
            for line in handle.read().splitlines():
                counts[path.name] += _records(line, max_batch_bytes)
    return counts


def _records(line: str, max_batch_bytes: int) -> int:
    if len(line.encode()) > max_batch_bytes:
        return 1
    try:
        payload = json.loads(line)
    except ValueError:
        return 1
    if isinstance(payload, dict) and isinstance(payload.get("batch"), list) and payload["batch"]:
        return len(payload["batch"])
    return 1


def landed_records_per_file(spark, lake) -> Counter:
    """File name -> rows in bronze.events plus rows in bronze.quarantine."""
    from lakehouse import delta

    counts: Counter = Counter()
    for path in (lake.bronze_events, lake.bronze_quarantine):
        for row in delta.read_table(spark, path).groupBy("source_file").count().collect():
            counts[os.path.basename(row["source_file"])] += row["count"]
    return counts


def jobs_run_by(spark, action) -> int:
    """How many Spark jobs ``action`` ran (jobs of the test's own group)."""
    return len(_job_ids_of(spark, action))


def tasks_run_by(spark, action) -> int:
    """How many tasks the Spark jobs ``action`` ran had, over all their stages."""
    tracker = spark.sparkContext.statusTracker()
    stages = [tracker.getStageInfo(stage) for job in _job_ids_of(spark, action)
              for stage in tracker.getJobInfo(job).stageIds]
    return sum(stage.numTasks for stage in stages if stage is not None)


def _job_ids_of(spark, action) -> set[int]:
    sc = spark.sparkContext
    sc.setJobGroup("counted", "jobs counted by the test")
    try:
        before = set(sc.statusTracker().getJobIdsForGroup("counted"))
        action()
        return set(sc.statusTracker().getJobIdsForGroup("counted")) - before
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)


def classes_compiled(spark, call) -> int:
    """How many classes Spark compiled from generated code while ``call()`` ran (its metrics count
    every compile; a hit in its cache of compiled classes is not one)."""
    compilations = spark.sparkContext._jvm.org.apache.spark.metrics.source.CodegenMetrics.METRIC_COMPILATION_TIME()
    before = compilations.getCount()
    call()
    return compilations.getCount() - before


def files_listed_in_checksum(path: str, version: int | None = None) -> bool:
    """Whether the checksum (``.crc``) file of a Delta table's ``version`` (default: its newest)
    lists the table's files, as Delta does for small tables unless told not to."""
    log_dir = Path(path) / "_delta_log"
    crc = max(log_dir.glob("*.crc")) if version is None else log_dir / f"{version:020d}.crc"
    return json.loads(crc.read_text()).get("allFiles") is not None
