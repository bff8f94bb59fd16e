"""The session builder's choices that show at run time: real Spark."""

import sys

import pytest
from pyspark.sql import functions as F

pytestmark = pytest.mark.integration


def test_python_workers_run_on_this_interpreter(spark):
    # A UDF in a notebook needs this environment's packages, not the first python3 on the PATH.
    interpreter = F.udf(lambda: sys.executable)
    assert spark.range(1).select(interpreter()).first()[0] == sys.executable


def test_column_calls_do_not_record_their_python_call_site(spark, monkeypatch):
    import pyspark.errors.utils as error_utils

    # PySpark decides once per process, from the active session's conf; ask it again.
    monkeypatch.setattr(error_utils, "_enable_debugging_cache", None)
    recorded = []
    monkeypatch.setattr(error_utils, "_capture_call_site", lambda depth: recorded.append(depth) or "")
    F.when(F.col("a").isNull(), F.lit(1)).otherwise(F.col("b"))
    assert error_utils.is_debugging_enabled() is False and recorded == []


def test_confs_set_applies_for_the_block_then_restores_or_unsets(spark):
    from lakehouse.spark import confs_set

    kept, absent = "spark.sql.shuffle.partitions", "spark.sql.codegen.factoryMode"
    before = spark.conf.get(kept)
    spark.conf.unset(absent)
    with confs_set(spark, {kept: "3", absent: "NO_CODEGEN"}):
        assert (spark.conf.get(kept), spark.conf.get(absent)) == ("3", "NO_CODEGEN")
    assert spark.conf.get(kept) == before
    assert spark.conf.get(absent, None) is None  # unset again, not pinned to the default's text


def test_local_frame_holds_what_create_data_frame_would_without_a_python_worker_job(spark):
    from datetime import date, datetime, timezone

    from pyspark.sql import Row
    from pyspark.sql.types import (BooleanType, DateType, DoubleType, IntegerType, LongType, StringType, StructField,
                                   StructType, TimestampType)

    from lakehouse.spark import local_frame
    from tests.helpers import jobs_run_by

    schema = StructType([StructField("s", StringType()), StructField("l", LongType()), StructField("i", IntegerType()),
                         StructField("d", DoubleType()), StructField("b", BooleanType()),
                         StructField("t", TimestampType()), StructField("day", DateType())])
    rows = [('"; drop table users; --', 2**40, 7, 1.5, True, datetime(2026, 11, 27, 8, 0, 0, 123456), date(2026, 11, 27)),
            {"s": "ü 名前", "d": -0.25, "b": False, "t": datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc)},  # by name
            Row(s=None, l=-1, i=None, d=None, b=None, t=None, day=date(2000, 1, 1)),
            (None,) * 7]
    built_df = local_frame(spark, rows, schema)
    assert built_df.schema == schema
    # A dict's missing keys are NULL, as createDataFrame has them.
    assert built_df.collect() == spark.createDataFrame(rows, schema).collect()
    assert built_df.collect()[1]["t"] == datetime(2026, 11, 27, 9, 30)  # the session's zone, UTC
    # Built in the driver: reading it back is no Spark job (createDataFrame's rows need one).
    assert jobs_run_by(spark, built_df.collect) == 0 < jobs_run_by(spark, spark.createDataFrame(rows, schema).collect)
    assert local_frame(spark, [], schema).count() == 0
    with pytest.raises(ValueError, match="7 fields"):
        local_frame(spark, [("only one",)], schema)


def test_py4j_resending_a_command_is_not_logged_as_a_traceback_but_a_failed_send_is(spark, caplog):
    import logging

    from lakehouse.spark import _Py4JRetryFilter

    # build_session (the shared session's) installed it; py4j logs both through the root logger.
    assert any(isinstance(f, _Py4JRetryFilter) for f in logging.getLogger().filters)
    with caplog.at_level(logging.INFO):
        try:
            raise ConnectionResetError(104, "Connection reset by peer")
        except ConnectionResetError:
            logging.info("Exception while sending command.", exc_info=True)  # retried: dropped
            logging.exception("Exception while sending command.")  # failed for good: kept
        logging.info("another note")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "Exception while sending command."), ("INFO", "another note")]


def test_observed_scalars_read_the_named_fields_as_python_values(spark):
    from pyspark.sql import Observation

    from lakehouse.spark import observed_scalars

    observation = Observation("scalars")
    df = spark.range(5).observe(observation, F.count(F.lit(1)).alias("n"), F.max(F.lit(None).cast("double")).alias("none"),
                                F.sum(F.col("id") / 2).alias("half"), F.collect_list("id").alias("ids"))
    df.collect()
    assert observed_scalars(observation, ["n", "none", "half"]) == {"n": 5, "none": None, "half": 5.0}
