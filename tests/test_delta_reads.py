"""A table version read over its files listed once (``delta.read_version_files``): real Delta tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse import delta
from lakehouse.spark import confs_set
from tests.helpers import files_listed_in_checksum, jobs_run_by

pytestmark = pytest.mark.integration


# Delta keeps a small table's file list in each version's checksum file unless this is off (as
# silver has it for its type tables); read_version_files takes the list from there when it can.
FILES_IN_CHECKSUM = "spark.databricks.delta.allFilesInCrc.enabled"


def write_three_versions(spark, path: str, files_in_checksum: bool):
    rows = spark.createDataFrame([(d, i) for d in ("2026-11-01", "2026-11-02") for i in range(5)], "day string, i int")
    with confs_set(spark, {FILES_IN_CHECKSUM: str(files_in_checksum).lower()}):
        delta.append(rows.withColumn("day", F.to_date("day")), path, partition_by=("day",))  # v0
        delta.delete_where(spark, path, "i = 3")  # v1: removes rows, rewrites files
        delta.append(spark.createDataFrame([("2026-11-03", 9, "new")], "day string, i int, extra string")
                     .withColumn("day", F.to_date("day")), path, partition_by=("day",), merge_schema=True)  # v2
    return rows


@pytest.mark.parametrize("files_in_checksum", [True, False], ids=["files-in-checksum", "state-reconstruction"])
def test_a_version_read_over_its_listed_files_equals_time_travel(spark, tmp_path, files_in_checksum):
    path = str(tmp_path / "t")
    rows = write_three_versions(spark, path, files_in_checksum)
    # (Delta leaves the list out after a schema change: v2 is read by state reconstruction either way.)
    assert [files_listed_in_checksum(path, v) for v in (0, 1)] == [files_in_checksum] * 2
    for version in (0, 1, 2):
        expected_df = delta.read_version(spark, path, version)
        listed_df = delta.read_version_files(spark, path, version)
        delta.append(rows.withColumn("day", F.to_date("day")), path, partition_by=("day",))  # later commits change nothing
        assert listed_df.schema == expected_df.schema
        assert sorted(listed_df.collect()) == sorted(expected_df.collect())
        assert listed_df.filter("day = date'2026-11-02'").count() == expected_df.filter("day = date'2026-11-02'").count()
    assert [r["i"] for r in delta.read_version_files(spark, path, 1).filter("i = 3").collect()] == []


def test_queries_on_listed_files_run_no_listing_job_of_their_own(spark, tmp_path):
    path = str(tmp_path / "t")
    delta.append(spark.range(100).withColumn("k", F.col("id") % 7), path)
    delta.append(spark.range(100, 200).withColumn("k", F.col("id") % 7), path)

    def two_queries(df):
        return lambda: (df.agg(F.max("id")).first(), df.groupBy("k").count().collect())

    two_queries(delta.read_version(spark, path, 1))()  # the version's snapshot state is built and cached
    time_travel = jobs_run_by(spark, two_queries(delta.read_version(spark, path, 1)))
    listed_df = delta.read_version_files(spark, path, 1)  # lists the files: one job, here
    listed = jobs_run_by(spark, two_queries(listed_df))
    assert listed < time_travel, (listed, time_travel)


@pytest.mark.parametrize("files_in_checksum", [True, False], ids=["files-in-checksum", "log-replay"])
def test_a_version_s_files_are_listed_without_a_spark_job(spark, tmp_path, files_in_checksum, monkeypatch):
    from lakehouse import deltalog

    path = str(tmp_path / "t")
    write_three_versions(spark, path, files_in_checksum)
    assert files_listed_in_checksum(path, 1) is files_in_checksum
    delta.read_version(spark, path, 2).count()  # the latest snapshot is loaded; version 1's is not
    assert jobs_run_by(spark, lambda: delta.read_version_files(spark, path, 1)) == 0
    # Where the log cannot be replayed here (too many files, a remote store, a commit file gone),
    # Delta's state reconstruction lists them: a Spark job.
    monkeypatch.setattr(deltalog, "MAX_REPLAYED_FILES", 0)
    jobs = jobs_run_by(spark, lambda: delta.read_version_files(spark, path, 1))
    assert (jobs == 0) is files_in_checksum, jobs


def test_the_replayed_log_lists_the_files_delta_does_across_checkpoints_deletes_and_deletion_vectors(spark, tmp_path):
    from lakehouse import deltalog

    path = str(tmp_path / "a%41 lake" / "t")  # a plain path is taken as it is, a file: URI %-decoded
    properties = {"delta.checkpointInterval": "3", "delta.enableDeletionVectors": "true"}
    with confs_set(spark, {FILES_IN_CHECKSUM: "false"}):
        for day in range(1, 5):
            rows_df = spark.range(day * 10, day * 10 + 10).withColumn("day", F.to_date(F.lit(f"2026-11-0{day}")))
            delta.append(rows_df, path, partition_by=("day",), properties=properties)
            delta.delete_where(spark, path, f"id = {day * 10 + 3}")  # a deletion vector on a file
        spark.sql(f"OPTIMIZE delta.`{path}`")  # removes the small files, adds compacted ones
        delta.delete_where(spark, path, "id = 41")
    log_dir = tmp_path / "a%41 lake" / "t" / "_delta_log"
    latest = delta.version_and_id(spark, path)[0]
    assert sorted(p.name for p in log_dir.glob("*.checkpoint.parquet"))[:1] == [f"{3:020d}.checkpoint.parquet"]

    def keys(texts):
        adds = [json.loads(text)["add"] for text in texts]
        return sorted((a["path"], (a.get("deletionVector") or {}).get("cardinality", 0)) for a in adds)

    def delta_keys(version):
        log = deltalog.delta_log(spark, path)
        snapshot = log.getSnapshotAt(version, *[getattr(log, f"getSnapshotAt$default${i}")() for i in (2, 3, 4)])
        found, iterator = [], snapshot.getAllFiles(False).iterator()
        while iterator.hasNext():
            add = iterator.next()
            found.append((add.path(), 0 if add.deletionVector() is None else add.deletionVector().cardinality()))
        return sorted(found)

    with_vectors = 0
    for version in range(latest + 1):
        replayed = deltalog.replayed_files(spark, path, version)
        assert replayed is not None and keys(replayed) == delta_keys(version), version
        with_vectors += any("deletionVector" in json.loads(t)["add"] for t in replayed)
        assert sorted(delta.read_version_files(spark, path, version).collect()) == sorted(
            delta.read_version(spark, path, version).collect()), version
    assert with_vectors > 0
    assert deltalog.replayed_files(spark, Path(path).as_uri(), latest) == deltalog.replayed_files(spark, path, latest)
    assert "%2541%20lake" in Path(path).as_uri()
    # A commit the replay needs (one after the checkpoint before it), gone: Delta's state answers.
    needing = max(int(p.name[:20]) for p in log_dir.glob("*.checkpoint.parquet")) - 1
    (log_dir / f"{needing:020d}.json").rename(log_dir / "gone.json")
    assert deltalog.replayed_files(spark, path, needing) is None
    assert deltalog.replayed_files(spark, "s3a://bucket/t", 0) is None
    (log_dir / f"{needing + 1:020d}.checkpoint.parquet").write_bytes(b"not parquet")  # unreadable here
    assert deltalog.replayed_files(spark, path, needing + 1) is None
