"""Against a real Redshift (Serverless or provisioned): runs only when LAKEHOUSE_TEST_REDSHIFT_* is set.

    LAKEHOUSE_TEST_REDSHIFT_HOST, _DATABASE, _USER, _PASSWORD, _IAM_ROLE, _BUCKET (s3://bucket/prefix)

plus AWS credentials for the staging bucket in the environment. See the README.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakehouse.warehouse import Load, Target, open_warehouse
from lakehouse.warehouse import sql as q

SETTINGS = ("HOST", "DATABASE", "USER", "PASSWORD", "IAM_ROLE", "BUCKET")
missing = [s for s in SETTINGS if not os.environ.get(f"LAKEHOUSE_TEST_REDSHIFT_{s}")]
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(bool(missing), reason="live Redshift test: set LAKEHOUSE_TEST_REDSHIFT_"
                                                      + ", _".join(missing))]


@pytest.fixture
def redshift():
    env = {k: os.environ[f"LAKEHOUSE_TEST_REDSHIFT_{k}"] for k in SETTINGS}
    url = (f"redshift://{env['USER']}@{env['HOST']}:5439/{env['DATABASE']}"
           f"?iam_role={env['IAM_ROLE']}&s3_staging={env['BUCKET']}")
    schema = f"lakehouse_test_{uuid.uuid4().hex[:8]}"
    with open_warehouse(url, env={"LAKEHOUSE_WAREHOUSE_PASSWORD": env["PASSWORD"]}) as wh:
        yield wh, schema
        wh.query(f"DROP SCHEMA IF EXISTS {q.ident(schema).sql('redshift')} CASCADE")


def test_a_staged_copy_loads_once_and_evolves(redshift, tmp_path):
    wh, schema = redshift
    columns = (("source_id", "string"), ("id", "string"), ("received_at", "timestamp"), ('"; drop table users; --', "double"))
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"source_id": ["s", "s"], "id": ["a", "b"],
                             "received_at": pa.array([datetime(2026, 1, 1, tzinfo=timezone.utc)] * 2, pa.timestamp("us", tz="UTC")),
                             '"; drop table users; --': [1.5, None]}), path)
    target = Target(schema, "order_completed")
    load = Load(target, "live#1", columns, (str(path),), 0, 1, keys=("source_id", "id"), sort_key=("received_at",))
    assert wh.load(load).rows == 2
    assert wh.load(load).skipped
    more = columns + (("coupon", "string"),)
    path2 = tmp_path / "more.parquet"
    pq.write_table(pa.table({"source_id": ["s"], "id": ["b"], "received_at": pa.array([None], pa.timestamp("us", tz="UTC")),
                             '"; drop table users; --': [2.0], "coupon": ["X"]}), path2)
    assert wh.load(Load(target, "live#1", more, (str(path2),), 2, 2, keys=("source_id", "id"))).columns_added == ("coupon",)
    rows = wh.query(q.exp.select("id", "coupon").from_(q.table(target)).order_by("id").sql("redshift"))
    assert rows == [("a", None), ("b", "X")]
