"""Silver -> gold -> warehouse end to end: DuckDB and a real PostgreSQL, incremental and exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gold.export import run_export
from gold.job import run_gold
from lakehouse import delta
from lakehouse.config import with_values
from lakehouse.errors import ExportError
from lakehouse.streaming import run_until_stopped
from lakehouse.tables import Lake
from lakehouse.warehouse import open_warehouse
from lakehouse.warehouse import sql as q
from silver.job import full_refresh, start_silver
from tests.silver_helpers import T0, bronze_df, message

pytestmark = pytest.mark.integration
HOUR = timedelta(hours=1)


def land_and_refine(spark, config, messages, **kwargs):
    delta.append(bronze_df(spark, messages, **kwargs), Lake(config.lake.dir).bronze_events,
                 partition_by=("received_date",))
    run_until_stopped(start_silver(spark, config, available_now=True))
    run_gold(spark, config)


def first_messages():
    return [
        message("identify", "i1", user_id="u1", anonymous_id="a1", traits={"email": "a@x", "plan": "free"}),
        message("page", "p1", user_id=None, anonymous_id="a1", name="Home", context={"page": {"path": "/"}}),
        message("track", "t1", event="Order Completed", properties={"price": 10, "note": "it's \"quoted\""}),
        message("track", "t2", event="Order Completed", properties={"price": 2.5, '"; drop table users; --': "x"}),
        message("track", "t3", event="Signed Up", properties={"plan": "pro"}),
    ]


def rows(warehouse, schema, table, *columns, order="id"):
    select = q.exp.select(*[q.exp.column(q.ident(c)) for c in columns]).from_(q.table(q.Target(schema, table)))
    return warehouse.query(select.order_by(q.exp.column(q.ident(order))).sql(warehouse.dialect))


def loaded(results):
    return {r.table: r.result.rows for r in results if r.result is not None and not r.result.skipped}


@pytest.fixture
def export_config(request, lake_config, tmp_path, monkeypatch):
    """A lake config exporting to DuckDB or the test PostgreSQL (``indirect`` parameter)."""
    if request.param == "duckdb":
        return with_values(lake_config, warehouse={"url": f"duckdb:///{tmp_path}/wh.duckdb"})
    pg = request.getfixturevalue("postgres")
    monkeypatch.setenv("LAKEHOUSE_WAREHOUSE_PASSWORD", pg.password)
    schema = f"e_{request.node.name.split('[')[0][-24:]}"
    return with_values(lake_config, warehouse={"url": pg.url, "schema": schema})


@pytest.mark.parametrize("export_config", ["duckdb", "postgres"], indirect=True)
def test_export_loads_every_table_once_then_only_what_changed(spark, export_config):
    config, schema = export_config, export_config.warehouse.schema
    land_and_refine(spark, config, first_messages())
    first = loaded(run_export(spark, config))
    assert first["tracks"] == 3 and first["order_completed"] == 2 and first["users"] == 1
    assert first["sessions"] >= 1 and first["stitched_users"] == 1 and first["daily_active_users"] == 1
    assert loaded(run_export(spark, config)) == {}  # nothing changed: every table up to date

    land_and_refine(spark, config, [
        message("track", "t4", event="Order Completed", properties={"price": 7, "coupon": "SPRING"}),
        message("track", "t1", event="Order Completed", properties={"price": 10}),  # a resent duplicate
        message("identify", "i2", user_id="u1", at=T0 + HOUR, traits={"plan": "pro"}),
    ], received=T0 + HOUR)
    second = loaded(run_export(spark, config))
    assert second["order_completed"] == 1 and second["tracks"] == 1 and second["users"] == 1
    assert "signed_up" not in second and "pages" not in second  # unchanged tables are not touched

    with open_warehouse(config.warehouse.url, password_env=config.warehouse.password_env) as wh:
        hostile = next(c for c, _ in wh.columns(q.Target(schema, "order_completed")) if "drop" in c)
        assert rows(wh, schema, "order_completed", "id", "price", "note", "coupon", hostile) == [
            ("t1", 10.0, "it's \"quoted\"", None, None), ("t2", 2.5, None, None, "x"), ("t4", 7.0, None, "SPRING", None)]
        assert rows(wh, schema, "users", "id", "email", "plan") == [("u1", "a@x", "pro")]
        ledger = rows(wh, schema, q.LEDGER_TABLE, "table_name", "from_version", "to_version", "mode", order="loaded_at")
        order_loads = [r[1:] for r in ledger if r[0] == "order_completed"]
        assert order_loads[0][2] == "replace" and order_loads[1][2] == "merge"
        assert order_loads[1][0] == order_loads[0][1] + 1  # the second load starts after the first


@pytest.mark.parametrize("export_config", ["postgres"], indirect=True)
def test_a_load_that_dies_midway_leaves_one_copy_after_the_rerun(spark, export_config, monkeypatch):
    config, schema = export_config, export_config.warehouse.schema
    land_and_refine(spark, config, first_messages())
    from lakehouse.warehouse.base import Warehouse

    calls = {"n": 0}
    real_load = Warehouse._load

    def dying_load(self, cursor, load):
        result = real_load(self, cursor, load)
        calls["n"] += 1
        if calls["n"] == 3:  # the third table's load has run every statement but not committed
            raise RuntimeError("killed before commit")
        return result

    monkeypatch.setattr(Warehouse, "_load", dying_load)
    with pytest.raises(ExportError, match="killed before commit"):
        run_export(spark, config)
    monkeypatch.setattr(Warehouse, "_load", real_load)
    run_export(spark, config)
    run_export(spark, config)
    with open_warehouse(config.warehouse.url, password_env=config.warehouse.password_env) as wh:
        for table in ("tracks", "pages", "identifies", "order_completed", "signed_up", "users"):
            silver_ids = sorted(r["id"] for r in delta.read_table(spark, Lake(config.lake.dir).silver(table)).collect())
            assert [r[0] for r in rows(wh, schema, table, "id")] == silver_ids, table


@pytest.mark.parametrize("export_config", ["postgres"], indirect=True)
def test_tenants_are_routed_to_their_own_schema(spark, export_config):
    config = with_values(export_config, warehouse={"tenant_schemas": {"tenant_b": f"{export_config.warehouse.schema}_b"}})
    land_and_refine(spark, config, [message("track", "a1", event="Viewed")], source_id="tenant_a")
    land_and_refine(spark, config, [message("track", "b1", event="Viewed"), message("track", "b2", event="Viewed")],
                    source_id="tenant_b", received=T0 + HOUR)
    run_export(spark, config)
    with open_warehouse(config.warehouse.url, password_env=config.warehouse.password_env) as wh:
        assert rows(wh, config.warehouse.schema, "viewed", "id", "source_id") == [("a1", "tenant_a")]
        assert rows(wh, f"{config.warehouse.schema}_b", "viewed", "id", "source_id") == [("b1", "tenant_b"), ("b2", "tenant_b")]


@pytest.mark.parametrize("export_config", ["duckdb"], indirect=True)
def test_a_rebuilt_silver_table_replaces_its_warehouse_copy(spark, export_config):
    config, schema = export_config, export_config.warehouse.schema
    land_and_refine(spark, config, first_messages())
    run_export(spark, config)
    full_refresh(spark, config)  # silver deleted and rebuilt: new Delta ids, versions from 0 again
    run_until_stopped(start_silver(spark, config, available_now=True))
    again = loaded(run_export(spark, config))
    assert again["order_completed"] == 2 and again["tracks"] == 3
    with open_warehouse(config.warehouse.url, password_env=config.warehouse.password_env) as wh:
        assert [r[0] for r in rows(wh, schema, "order_completed", "id")] == ["t1", "t2"]


def test_latest_images_keep_the_newest_live_row_and_drop_keys_deleted_since(spark):
    changes_df = spark.createDataFrame([
        ("s", "a", "old", "insert", 3), ("s", "a", "old", "update_preimage", 4), ("s", "a", "new", "update_postimage", 4),
        ("s", "b", "x", "insert", 3), ("s", "b", "x", "delete", 4),  # dropped by the gate after it landed
        ("s", "c", "y", "delete", 3), ("s", "c", "y2", "insert", 3),  # rewritten in one commit: the new row lives
    ], "source_id string, id string, v string, _change_type string, _commit_version long")
    rows = sorted(tuple(r) for r in delta.latest_images(changes_df, ("source_id", "id")).collect())
    assert rows == [("s", "a", "new"), ("s", "c", "y2")]
    flagged = sorted(tuple(r) for r in delta.latest_images(changes_df, ("source_id", "id"), deleted="gone").collect())
    assert flagged == [("s", "a", "new", False), ("s", "b", "x", True), ("s", "c", "y2", False)]


@pytest.mark.parametrize("export_config", ["duckdb"], indirect=True)
def test_a_row_erased_in_the_lake_leaves_the_warehouse_with_the_next_export(spark, export_config):
    config, schema = export_config, export_config.warehouse.schema
    lake = Lake(config.lake.dir)
    land_and_refine(spark, config, first_messages())
    run_export(spark, config)
    for table in ("tracks", "order_completed"):  # a GDPR erasure of message t2 in silver
        assert delta.delete_where(spark, lake.silver(table), "id = 't2'").rows == 1
    results = {r.table: r.result for r in run_export(spark, config) if r.result is not None}
    assert (results["tracks"].rows, results["tracks"].rows_deleted) == (0, 1)
    assert (results["order_completed"].rows, results["order_completed"].rows_deleted) == (0, 1)
    with open_warehouse(config.warehouse.url, password_env=config.warehouse.password_env) as wh:
        assert [r[0] for r in rows(wh, schema, "order_completed", "id")] == ["t1"]
        assert "t2" not in [r[0] for r in rows(wh, schema, "tracks", "id")]
