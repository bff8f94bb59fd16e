"""Silver's pure transforms on inline rows, compared as whole frames."""

from __future__ import annotations

from datetime import datetime, timedelta

from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql.types import (BooleanType, DoubleType, LongType, StringType, StructField, StructType,
                               TimestampType)

from silver import discover
from silver.flatten import corrected_timestamp, explode_discards, filter_duplicates, select_table, with_event, with_parsed
from silver.layout import Column, TableLayout
from tests.silver_helpers import T0, bronze_df, message

LOADED = datetime(2026, 11, 2)


def layout_of(table, kind, columns):
    return TableLayout(table, kind, [Column(table, section, path, name, type_) for section, path, name, type_ in columns])


def parsed(spark, messages, **kwargs):
    return with_event(with_parsed(bronze_df(spark, messages, **kwargs), LOADED, 7), {"Order Completed": "order_completed"})


def test_values_that_do_not_fit_their_column_are_rescued_not_lost(spark):
    layout = layout_of("order_completed", "event", [
        ("properties", ("price",), "price", "double"), ("properties", ("qty",), "qty", "bigint"),
        ("properties", ("gift",), "gift", "boolean"), ("properties", ("at",), "at", "timestamp"),
        ("properties", ("tags",), "tags", "string"), ("context", ("ip",), "context_ip", "string"),
    ])
    messages = [
        message("track", "m1", event="Order Completed", properties={"price": 1.5, "qty": 2, "gift": True,
                "at": "2026-11-01T10:00:00Z", "tags": ["a", 1]}, context={"ip": "10.0.0.1"}),
        message("track", "m2", event="Order Completed", properties={"price": "abc", "qty": 2.5, "gift": 1,
                "at": 5, "tags": {"x": None}}),
        message("track", "m3", event="Order Completed", properties={"price": 3, "qty": True, "gift": None}),
        message("track", "m4", event="Order Completed", properties="not an object"),
    ]
    out_df = select_table(parsed(spark, messages), layout).select(
        "id", "event", "price", "qty", "gift", "at", "tags", "context_ip", "_rescued")
    expected = spark.createDataFrame([
        ("m1", "order_completed", 1.5, 2, True, datetime(2026, 11, 1, 10), '["a",1]', "10.0.0.1", None),
        ("m2", "order_completed", None, None, None, None, '{"x":null}', None,
         '{"price":"abc","qty":2.5,"gift":1,"at":5}'),
        ("m3", "order_completed", 3.0, 1, None, None, None, None, None),
        ("m4", "order_completed", None, None, None, None, None, None, None),
    ], StructType([StructField("id", StringType()), StructField("event", StringType()),
                   StructField("price", DoubleType()), StructField("qty", LongType()),
                   StructField("gift", BooleanType()), StructField("at", TimestampType()),
                   StructField("tags", StringType()), StructField("context_ip", StringType()),
                   StructField("_rescued", StringType())]))
    assert_df_equality(out_df, expected, ignore_nullable=True, ignore_row_order=True)

    discards = explode_discards(select_table(parsed(spark, messages), layout), "order_completed",
                                {c.column: c.type for c in layout.columns})
    assert_df_equality(
        discards.select("table", "row_id", "column", "value", "reason"),
        spark.createDataFrame([
            ("order_completed", "m2", "at", "5", "cannot keep bigint value in timestamp column"),
            ("order_completed", "m2", "gift", "1", "cannot keep bigint value in boolean column"),
            ("order_completed", "m2", "price", '"abc"', "cannot keep string value in double column"),
            ("order_completed", "m2", "qty", "2.5", "cannot keep decimal(2,1) value in bigint column"),
        ], "table string, row_id string, column string, value string, reason string"),
        ignore_nullable=True, ignore_row_order=True)


def test_hostile_keys_are_read_into_their_own_columns(spark):
    long_key = "k" * 300
    keys = ['"; drop table users; --', "it's \\ odd", "a.b c", "Über", long_key, "a'b\"c"]
    layout = layout_of("evt", "event", [("properties", (k,), f"c{i}", "string") for i, k in enumerate(keys)]
                       + [("properties", ("nested", "a.b"), "deep", "bigint")])
    props = {k: f"v{i}" for i, k in enumerate(keys)} | {"nested": {"a.b": 5}}
    out_df = select_table(parsed(spark, [message("track", "m1", event="Order Completed", properties=props)]), layout)
    row = out_df.first()
    assert [row[f"c{i}"] for i in range(len(keys))] == [f"v{i}" for i in range(len(keys))]
    assert row["deep"] == 5 and row["_rescued"] is None


def test_event_time_is_corrected_for_client_clock_skew(spark):
    df = spark.createDataFrame([
        (T0, T0 + timedelta(hours=2), T0 + timedelta(hours=2, seconds=5), T0 + timedelta(seconds=30)),
        (T0, None, None, T0 + timedelta(seconds=30)),
        (None, None, None, T0 + timedelta(seconds=30)),
    ], "ts timestamp, original timestamp, sent timestamp, received timestamp")
    out_df = df.select(corrected_timestamp(F.col("ts"), F.col("sent"), F.col("original"), F.col("received")).alias("t"))
    # Client clock 2 h fast: sent 5 s after the event, received at T0+30 s -> the event was at T0+25 s.
    expected = spark.createDataFrame([(T0 + timedelta(seconds=25),), (T0,), (T0 + timedelta(seconds=30),)], "t timestamp")
    assert_df_equality(out_df, expected, ignore_nullable=True)


def test_duplicates_keep_the_first_received_copy(spark):
    messages = [message("track", "m1", event="A", properties={"n": 1}),
                message("track", "m1", event="A", properties={"n": 2}),
                message("track", "m2", event="A")]
    out_df = filter_duplicates(bronze_df(spark, messages)).select("message_id", F.get_json_object("raw", "$.properties.n").alias("n"))
    assert_df_equality(out_df, spark.createDataFrame([("m1", "1"), ("m2", None)], "message_id string, n string"),
                       ignore_nullable=True, ignore_row_order=True)


def test_inspection_reads_a_string_path_by_its_text_alone_with_the_same_answer(spark):
    messages = [
        message("track", "m1", event="A", properties={"at": "2026-11-01T10:00:00Z", "note": "2026-11-01T10:00:00Z",
                                                      "mixed": 1, "flag": "yes"}),
        message("track", "m2", event="A", properties={"at": "2026-11-02", "note": "not a time", "mixed": "x",
                                                      "flag": None}),
        message("track", "m3", event="B", properties={"note": "2026-11-03T00:00:00Z", "mixed": True}),
    ]
    parsed_df = parsed(spark, messages)
    paths = [(0, "event_text = 'A'", "properties", ("at",)), (1, "event_text = 'A'", "properties", ("note",)),
             (2, "true", "properties", ("mixed",)), (3, "true", "properties", ("flag",)),
             (4, "event_text = 'A'", "properties", ("absent",))]

    def inspect(strings):
        rows = discover.inspect_df(parsed_df, [(*p, strings and p[3] != ("mixed",)) for p in paths]).collect()
        return {r["id"]: (sorted(r["kinds"]), r["all_iso"]) for r in rows}

    by_text = inspect(True)
    assert by_text == inspect(False)
    assert by_text == {
        0: (["STRING"], True),  # every value of event A is ISO-8601: a timestamp column
        1: (["STRING"], False),  # "not a time" in event A (B's ISO value is not A's)
        2: (["BIGINT", "BOOLEAN", "STRING"], False),
        3: (["STRING"], False),  # the explicit null is no value
    }  # 4: no value at all, no row
