"""The session builder's choices that show at run time: real Spark."""

import sys

import pytest
from pyspark.sql import functions as F

pytestmark = pytest.mark.integration


def test_python_workers_run_on_this_interpreter(spark):
    # A UDF in a notebook needs this environment's packages, not the first python3 on the PATH.
    interpreter = F.udf(lambda: sys.executable)
    assert spark.range(1).select(interpreter()).first()[0] == sys.executable


def test_confs_set_applies_for_the_block_then_restores_or_unsets(spark):
    from lakehouse.spark import confs_set

    kept, absent = "spark.sql.shuffle.partitions", "spark.sql.codegen.factoryMode"
    before = spark.conf.get(kept)
    spark.conf.unset(absent)
    with confs_set(spark, {kept: "3", absent: "NO_CODEGEN"}):
        assert (spark.conf.get(kept), spark.conf.get(absent)) == ("3", "NO_CODEGEN")
    assert spark.conf.get(kept) == before
    assert spark.conf.get(absent, None) is None  # unset again, not pinned to the default's text
