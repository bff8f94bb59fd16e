"""The silver job end to end: real Delta tables, a real stream over bronze."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

import lakehouse.delta
from bronze.ingest import IngestPaths, start_ingest
from bronze.ingest import ensure_tables as ensure_bronze_tables
from lakehouse import delta
from lakehouse.config import with_values
from lakehouse.streaming import run_until_stopped
from lakehouse.synthetic.writer import GenerateSpec, generate
from lakehouse.tables import Lake
from silver.job import full_refresh, start_silver
from tests.helpers import classes_compiled, files_listed_in_checksum
from tests.silver_helpers import T0, bronze_df, message

pytestmark = pytest.mark.integration
VOLATILE = ("loaded_at", "silver_batch_id")  # differ between runs by design


def land(spark, config, messages, **kwargs):
    delta.append(bronze_df(spark, messages, **kwargs), Lake(config.lake.dir).bronze_events,
                 partition_by=("received_date",))


def run_silver(spark, config):
    run_until_stopped(start_silver(spark, config, available_now=True))


def table(spark, config, name):
    return delta.read_table(spark, Lake(config.lake.dir).silver(name))


def first_batch():
    return [
        message("track", "t1", event="Order Completed", properties={"price": 10, "flag": True, "userId": "p1",
                                                                     "user_id": "p2", "Price": 1}),
        message("track", "t2", event="Order Completed", properties={"price": 2.5, "flag": 3}),
        message("track", "t3", event="Signed Up", properties={"plan": "pro", "event": "kept"}),
        message("page", "p1", name="Home", properties={"path": "/", "referrer": None}),
        message("identify", "i1", user_id="u1", anonymous_id="a1", traits={"email": "a@x", "age": 30}),
        message("group", "g1", groupId="acme", traits={"size": 5}),
        message("alias", "al1", user_id="u2", previousId="a9"),
        message("screen", "s1", name="Cart", properties={"items": [1, 2]}),
    ]


def test_silver_tables_evolve_rescue_and_dedup_across_batches(spark, lake_config):
    land(spark, lake_config, first_batch())
    run_silver(spark, lake_config)
    order = table(spark, lake_config, "order_completed")
    # Widened within the batch: 10 and 2.5 -> double; true and 3 -> bigint.
    assert dict(order.dtypes)["price"] == "double" and dict(order.dtypes)["flag"] == "bigint"
    assert sorted(order.select("id", "price", "flag").collect()) == [("t1", 10.0, 1), ("t2", 2.5, 3)]
    signed = table(spark, lake_config, "signed_up").first()
    assert signed["property_event"] == "kept" and signed["event"] == "signed_up" and signed["event_text"] == "Signed Up"
    columns = set(order.columns)
    assert {"user_id", "price"} <= columns  # the built-in user_id and the property "price"
    assert len([c for c in columns if c.startswith("property_user_id")]) == 2  # userId and user_id, both kept
    assert len([c for c in columns if c.startswith("price_")]) == 1  # "Price"
    assert table(spark, lake_config, "tracks").count() == 3
    assert table(spark, lake_config, "pages").first()["name"] == "Home"
    assert table(spark, lake_config, "screens").first()["items"] == "[1,2]"
    assert table(spark, lake_config, "groups").first()["group_id"] == "acme"
    assert table(spark, lake_config, "aliases").first()["previous_id"] == "a9"
    identify = table(spark, lake_config, "identifies").first()
    assert (identify["email"], identify["age"]) == ("a@x", 30)

    # Second batch: a resent message, a new property, a value that does not fit its column.
    later = T0 + timedelta(hours=1)
    land(spark, lake_config, [
        message("track", "t1", event="Order Completed", properties={"price": 10}),  # duplicate of t1
        message("track", "t4", event="Order Completed", properties={"price": "free", "coupon": "X1"}),
    ], received=later)
    run_silver(spark, lake_config)
    order = table(spark, lake_config, "order_completed")
    assert order.count() == 3
    t4 = order.filter("id = 't4'").first()
    assert t4["price"] is None and t4["coupon"] == "X1" and t4["_rescued"] == '{"price":"free"}'
    discards = table(spark, lake_config, "discards").select("table", "row_id", "column", "value")
    assert [tuple(r) for r in discards.collect()] == [("order_completed", "t4", "price", '"free"')]
    metrics = delta.read_table(spark, Lake(lake_config.lake.dir).metrics("silver")).orderBy("batch_id").collect()
    assert [(m["rows_in"], m["duplicates_seen_before"], m["rows_out"]) for m in metrics] == [(8, 0, 8), (2, 1, 1)]
    column_map = table(spark, lake_config, "_column_map")
    assert column_map.filter("`table` = 'order_completed' AND json_path = '$.properties.coupon'").count() == 1
    # Data tables keep file statistics on times and batch ids only, from their creation on.
    stats_key = "delta.dataSkippingStatsColumns"
    for name in ("order_completed", "tracks"):
        path = Lake(lake_config.lake.dir).silver(name)
        assert delta._properties(spark, path, [stats_key]) == {stats_key: "timestamp,received_at,loaded_at,silver_batch_id"}


def test_per_event_tables_are_written_interpreted_type_tables_compiled_and_the_session_gets_its_confs_back(
        spark, lake_config, monkeypatch):
    import silver.job

    keys = {**silver.job.EVENT_TABLE_CONFS, **silver.job.TYPE_TABLE_CONFS}
    seen, real_append = {}, lakehouse.delta.append

    def recording_append(df, path, **kwargs):
        seen[path.rstrip("/").rsplit("/", 1)[-1]] = {key: df.sparkSession.conf.get(key, None) for key in keys}
        return real_append(df, path, **kwargs)

    monkeypatch.setattr(lakehouse.delta, "append", recording_append)
    before = {key: spark.conf.get(key, None) for key in keys}
    land(spark, lake_config, first_batch())
    run_silver(spark, lake_config)
    assert seen["order_completed"] == {**before, **silver.job.EVENT_TABLE_CONFS}
    assert seen["tracks"] == {**before, **silver.job.TYPE_TABLE_CONFS} != seen["order_completed"]
    assert seen["_message_ids"] == before  # the writes after the tables phase, and the session, are as before
    assert {key: spark.conf.get(key, None) for key in keys} == before
    # A per-event table's checksum lists its files (readers then find them without a Spark job);
    # a type table's does not.
    lake = Lake(lake_config.lake.dir)
    assert [files_listed_in_checksum(lake.silver(name)) for name in ("order_completed", "tracks")] == [True, False]


def snapshot(spark, config, names):
    return {name: table(spark, config, name).drop(*VOLATILE) for name in names}


def test_full_refresh_and_a_crash_replay_converge_to_the_same_tables(spark, lake_config, monkeypatch):
    land(spark, lake_config, first_batch())
    run_silver(spark, lake_config)
    land(spark, lake_config, [message("track", "t9", event="Signed Up", properties={"plan": 7})],
         received=T0 + timedelta(hours=1))
    run_silver(spark, lake_config)
    names = ["tracks", "order_completed", "signed_up", "pages", "identifies", "discards", "_column_map"]
    before = {n: df.collect() for n, df in snapshot(spark, lake_config, names).items()}

    full_refresh(spark, lake_config)
    assert not delta.is_table(spark, Lake(lake_config.lake.dir).silver("tracks"))
    # Crash the rebuild in the middle of its table writes, then run again.
    real_append, calls = lakehouse.delta.append, []

    def failing_append(df, path, **kwargs):
        calls.append(path)
        if path.endswith("/signed_up") and len([c for c in calls if c.endswith("/signed_up")]) == 1:
            raise RuntimeError("injected crash")
        return real_append(df, path, **kwargs)

    monkeypatch.setattr(lakehouse.delta, "append", failing_append)
    with pytest.raises(Exception, match="injected crash"):
        run_silver(spark, lake_config)
    run_silver(spark, lake_config)
    after = snapshot(spark, lake_config, names)
    for name in names:
        expected = spark.createDataFrame(before[name], after[name].schema)
        assert_df_equality(after[name], expected, ignore_row_order=True, ignore_nullable=True)


def test_a_running_stream_picks_up_new_properties_without_a_restart(spark, lake_config):
    land(spark, lake_config, [message("track", "r1", event="Played", properties={"song": "a"})])
    query = start_silver(spark, with_values(lake_config, silver={"trigger_seconds": 1}))
    try:
        query.processAllAvailable()
        land(spark, lake_config, [message("track", "r2", event="Played", properties={"song": "b", "volume": 7})],
             received=T0 + timedelta(minutes=5))
        query.processAllAvailable()
    finally:
        query.stop()
    played = table(spark, lake_config, "played")
    assert sorted((r["id"], r["volume"]) for r in played.collect()) == [("r1", None), ("r2", 7)]


def test_generated_clickstream_through_bronze_and_silver_accounts_for_every_event(spark, lake_config):
    generate(lake_config.landing.dir, GenerateSpec(events=400, events_per_file=200, seed=5, trouble_rate=0.05))
    run_until_stopped(start_ingest(spark, lake_config, available_now=True))
    run_silver(spark, lake_config)
    lake = Lake(lake_config.lake.dir)
    bronze = delta.read_table(spark, lake.bronze_events)
    unique = bronze.select("source_id", "message_id").distinct().count()
    by_type = {t: table(spark, lake_config, name).count() for t, name in
               [("track", "tracks"), ("page", "pages"), ("screen", "screens"), ("identify", "identifies"),
                ("group", "groups"), ("alias", "aliases")] if delta.is_table(spark, lake.silver(name))}
    assert sum(by_type.values()) == unique
    event_tables = table(spark, lake_config, "_column_map").filter("kind = 'event'").select("table").distinct().collect()
    assert sum(table(spark, lake_config, r["table"]).count() for r in event_tables) <= by_type["track"]
    tracks_by_event = {r["event"]: r["count"] for r in table(spark, lake_config, "tracks").groupBy("event").count().collect()}
    for name, count in tracks_by_event.items():
        if delta.is_table(spark, lake.silver(name)):
            assert table(spark, lake_config, name).count() == count, name


def test_users_keep_the_latest_value_of_each_trait_and_an_explicit_null_clears_it(spark, lake_config):
    minute = timedelta(minutes=1)
    land(spark, lake_config, [
        message("identify", "i1", user_id="u1", anonymous_id="a1", traits={"email": "a@x", "plan": "free", "age": 30}),
        message("identify", "i2", user_id="u1", at=T0 + minute, traits={"plan": "pro"}),
        message("identify", "i3", user_id="u2", traits={"email": "b@x"}),
        message("alias", "al1", user_id="u2", previousId="a9"),
        message("track", "t1", user_id="u1", event="Viewed"),
    ])
    run_silver(spark, lake_config)
    land(spark, lake_config, [
        message("identify", "i4", user_id="u1", at=T0 + 60 * minute, traits={"age": None}),
        message("identify", "i5", user_id="u1", at=T0 - 60 * minute, traits={"plan": "trial", "city": "Oslo"}),
    ], received=T0 + 61 * minute)
    run_silver(spark, lake_config)
    users_df = table(spark, lake_config, "users").select("id", "email", "plan", "age", "city")
    expected = spark.createDataFrame(
        [("u1", "a@x", "pro", None, "Oslo"), ("u2", "b@x", None, None, None)],
        "id string, email string, plan string, age bigint, city string")
    # The late identify (an hour before the profile's last update) fills city but does not undo plan.
    assert_df_equality(users_df, expected, ignore_row_order=True, ignore_nullable=True)
    pairs = table(spark, lake_config, "identity_map").select("anonymous_id", "user_id", "via")
    assert sorted(tuple(r) for r in pairs.collect()) == [("a1", "u1", "identify"), ("a9", "u2", "alias")]


def test_tables_are_registered_in_the_configured_catalog_schema(spark, lake_config):
    config = with_values(lake_config, lake={"catalog": "lakehouse_test"})
    land(spark, config, [message("track", "c1", event="Order Completed", properties={"price": 1})])
    ensure_bronze_tables(spark, IngestPaths.from_config(config), config.lake.catalog)
    run_silver(spark, config)
    assert spark.table("lakehouse_test.silver_order_completed").select("id").collect()[0]["id"] == "c1"
    assert spark.table("lakehouse_test.bronze_events").count() == 1
    names = {t.name for t in spark.catalog.listTables("lakehouse_test")}
    assert {"silver_tracks", "silver_column_map", "silver_discards", "metrics_silver"} <= names


def test_a_batch_like_the_last_compiles_no_new_code(spark, lake_config):
    """Batches of the same shape run the same generated code. Two things made every batch compile
    anew: its id and load time written into the code as literals (now data, see
    lakehouse.spark.with_constants), and Spark's cache of compiled classes, 100 by default, which
    one silver batch overflows (see BASE_CONFS in lakehouse.spark)."""
    from silver.job import SilverWriter, ensure_tables
    from silver.tables import SilverPaths
    from tests.silver_helpers import bronze_df

    paths = SilverPaths.from_config(lake_config)
    ensure_tables(spark, paths)
    writer = SilverWriter(lake_config, paths)
    writer._app_id = "compiles-once"  # no stream runs here to give its checkpoint's id
    compiled = []
    for batch_id in range(4):
        messages = [message("track", f"t{batch_id}-{i}", event=f"Event {i % 3}", properties={"n": i, "s": "x"})
                    for i in range(6)]
        messages += [message("page", f"p{batch_id}", name="Home", properties={"path": "/"}),
                     message("identify", f"i{batch_id}", user_id="u1", anonymous_id="a1", traits={"email": "a@x"}),
                     message("alias", f"a{batch_id}", user_id="u1", previousId="a2")]
        batch_df = bronze_df(spark, messages, received=T0 + timedelta(minutes=batch_id), batch_id=batch_id)
        batch_df.count()  # its own code is not the writer's
        compiled.append(classes_compiled(spark, partial(writer, batch_df, batch_id)))
    # What is left: one query (Delta's own, by its plan) compiled twice with the same code, and the
    # journal look-up's batch id. Before: about 200 a batch; with the literals but the larger cache, 10.
    assert compiled[0] > 0 and all(n <= 5 for n in compiled[2:]), compiled
    loads = table(spark, lake_config, "tracks").groupBy("silver_batch_id").agg(F.countDistinct("loaded_at").alias("n"))
    assert sorted((r["silver_batch_id"], r["n"]) for r in loads.collect()) == [(0, 1), (1, 1), (2, 1), (3, 1)]
