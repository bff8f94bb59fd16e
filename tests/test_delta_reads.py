"""A table version read over its files listed once (``delta.read_version_files``): real Delta tables."""

from __future__ import annotations

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


@pytest.mark.parametrize("files_in_checksum", [True, False], ids=["files-in-checksum", "state-reconstruction"])
def test_a_file_list_kept_in_the_checksum_is_read_without_a_spark_job(spark, tmp_path, files_in_checksum):
    path = str(tmp_path / "t")
    write_three_versions(spark, path, files_in_checksum)
    assert files_listed_in_checksum(path, 1) is files_in_checksum
    delta.read_version(spark, path, 2).count()  # the latest snapshot is loaded; version 1's is not
    jobs = jobs_run_by(spark, lambda: delta.read_version_files(spark, path, 1))
    assert (jobs == 0) is files_in_checksum, jobs
