"""lakehouse status: rows, lag, freshness objective, last export and gate verdict per table."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakehouse import delta
from lakehouse.config import with_values
from lakehouse.status import collect
from lakehouse.tables import Lake
from lakehouse.warehouse import Load, Target, open_warehouse

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 27, 12, 0)


def test_status_reports_freshness_exports_and_verdicts(spark, lake_config, tmp_path, monkeypatch, capsys):
    config = with_values(lake_config, status={"max_lag_minutes": 30},
                         warehouse={"url": f"duckdb:///{tmp_path}/wh.duckdb"})
    lake = Lake(config.lake.dir)
    schema = "source_id string, id string, received_at timestamp"
    delta.append(spark.createDataFrame([("s", "m1", NOW - timedelta(minutes=5))], schema), lake.bronze_events)
    delta.append(spark.createDataFrame([("s", "t1", NOW - timedelta(hours=2)), ("s", "t2", NOW - timedelta(hours=3))],
                                       schema), lake.silver("tracks"))
    delta.append(spark.createDataFrame([("silver.tracks", True, NOW, 0)],
                                       "table string, passed boolean, decided_at timestamp, table_version long"),
                 lake.quality("gate"))
    staged = tmp_path / "t.parquet"
    pq.write_table(pa.table({"source_id": ["s"], "id": ["t1"]}), staged)
    with open_warehouse(config.warehouse.url) as wh:
        wh.load(Load(Target("analytics", "tracks"), "x#1", (("source_id", "string"), ("id", "string")), (str(staged),),
                     0, 0, keys=("source_id", "id")))
        loads = wh.latest_loads("analytics")

    by_table = {s.table: s for s in collect(spark, config, now=NOW, warehouse_loads=loads)}
    bronze, tracks = by_table["bronze/events"], by_table["silver/tracks"]
    assert (bronze.rows, bronze.lag_minutes, bronze.fresh, bronze.exported_version) == (1, 5.0, True, None)
    assert (tracks.rows, tracks.lag_minutes, tracks.fresh) == (2, 120.0, False)
    assert (tracks.exported_version, tracks.exported_rows, tracks.gate) == (0, 1, "passed")

    from lakehouse.cli import main
    monkeypatch.setenv("LAKEHOUSE_LAKE_DIR", config.lake.dir)
    monkeypatch.setenv("LAKEHOUSE_STATUS_MAX_LAG_MINUTES", "100000")  # met: exit 0
    monkeypatch.setenv("LAKEHOUSE_WAREHOUSE_URL", config.warehouse.url)
    assert main(["status", "--json"]) == 0
    printed = {item["table"]: item for item in json.loads(capsys.readouterr().out)}
    assert printed["silver/tracks"]["exported_rows"] == 1
    monkeypatch.setenv("LAKEHOUSE_STATUS_MAX_LAG_MINUTES", "1")  # bronze is minutes old by the clock now
    assert main(["status", "--no-warehouse"]) == 4
