"""The session builder's choices that show at run time: real Spark."""

import sys

import pytest
from pyspark.sql import functions as F

pytestmark = pytest.mark.integration


def test_python_workers_run_on_this_interpreter(spark):
    # A UDF in a notebook needs this environment's packages, not the first python3 on the PATH.
    interpreter = F.udf(lambda: sys.executable)
    assert spark.range(1).select(interpreter()).first()[0] == sys.executable
