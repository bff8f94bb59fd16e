"""Envelope parsing and validation on small inline rows, compared as whole frames."""

import hashlib
import json
from datetime import date, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from bronze.envelope import (BRONZE_SCHEMA, Reason, explode_records, select_events, select_quarantine,
                             with_envelope)

INGESTED = datetime(2026, 11, 2, 12, 0, 0)
LINES_SCHEMA = StructType([StructField("value", StringType()), StructField("source_file", StringType())])


def source_id(write_key: str) -> str:
    return "wk_" + hashlib.sha256(write_key.encode()).hexdigest()[:16]


def envelope(spark, lines, *, max_event_bytes=32_768, max_batch_bytes=512_000):
    lines_df = (spark.createDataFrame([(line, f"f{i}") for i, line in enumerate(lines)], LINES_SCHEMA)
                .withColumn("ingested_at", F.lit(INGESTED).cast("timestamp"))
                .withColumn("batch_id", F.lit(3).cast("long")))
    return (lines_df.transform(explode_records, max_batch_bytes)
            .transform(with_envelope, default_source_id="default", max_event_bytes=max_event_bytes))


TRACK = json.dumps({"type": "track", "event": "Order Completed", "messageId": "m1", "userId": 42,
                    "timestamp": "2026-11-01T10:00:00.250Z", "sentAt": "2026-11-01T10:00:01Z",
                    "receivedAt": "2026-11-01T10:00:02Z", "writeKey": "wk1", "properties": {"total": 9.5}})
BATCH = json.dumps({"batch": [
    {"type": "page", "messageId": "m2", "anonymousId": "a1", "timestamp": "2026-11-01T23:59:59+01:00"},
    {"type": "identify", "messageId": "m3", "userId": "u1", "anonymousId": None, "traits": {"plan": "pro"},
     "timestamp": "2026-11-01T22:00:00Z", "originalTimestamp": "2026-11-01T21:59:00Z"},
    {"type": "track", "event": "x", "userId": "u1"},
], "sentAt": "2026-11-01T23:00:05Z", "writeKey": "wk2", "receivedAt": "2026-11-01T23:00:06Z"})


def test_valid_messages_become_bronze_rows(spark):
    actual = select_events(envelope(spark, [TRACK, BATCH]))
    member = json.loads(BATCH)["batch"]
    expected = spark.createDataFrame([
        ("m1", "track", "Order Completed", "42", None, source_id("wk1"), datetime(2026, 11, 1, 10, 0, 0, 250000),
         datetime(2026, 11, 1, 10, 0, 1), None, datetime(2026, 11, 1, 10, 0, 2), TRACK, INGESTED, 3, "f0", None,
         date(2026, 11, 1)),
        # batch members inherit sentAt, writeKey and receivedAt from the envelope
        ("m2", "page", None, None, "a1", source_id("wk2"), datetime(2026, 11, 1, 22, 59, 59),
         datetime(2026, 11, 1, 23, 0, 5), None, datetime(2026, 11, 1, 23, 0, 6),
         json.dumps(member[0]), INGESTED, 3, "f1", 0, date(2026, 11, 1)),  # a member's exact text
        ("m3", "identify", None, "u1", None, source_id("wk2"), datetime(2026, 11, 1, 22, 0, 0),
         datetime(2026, 11, 1, 23, 0, 5), datetime(2026, 11, 1, 21, 59, 0), datetime(2026, 11, 1, 23, 0, 6),
         json.dumps(member[1]), INGESTED, 3, "f1", 1, date(2026, 11, 1)),
    ], BRONZE_SCHEMA)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


BAD = [
    ('{"type": "track", "messageId": "m', Reason.INVALID_JSON),
    ('{"type": "page", "messageId": "q0", "userId": "u"} {"type": "page"}', Reason.INVALID_JSON),  # two values
    ("", Reason.INVALID_JSON),
    ("[1, 2]", Reason.NOT_AN_OBJECT),
    ('"just a string"', Reason.NOT_AN_OBJECT),
    ('{"batch": "not a list", "type": "track"}', Reason.INVALID_ENVELOPE),
    ('{"batch": []}', Reason.EMPTY_BATCH),
    ('{"messageId": "q1", "userId": "u"}', Reason.MISSING_TYPE),
    ('{"type": "click", "messageId": "q2", "userId": "u"}', Reason.UNKNOWN_TYPE),
    ('{"type": "page", "messageId": "  ", "userId": "u"}', Reason.MISSING_MESSAGE_ID),
    ('{"type": "page", "messageId": "q3", "userId": null}', Reason.MISSING_IDENTITY),
    ('{"type": "track", "messageId": "q4", "userId": "u"}', Reason.MISSING_EVENT),
    ('{"type": "alias", "messageId": "q5", "userId": "u"}', Reason.MISSING_PREVIOUS_ID),
    ('{"type": "group", "messageId": "q6", "userId": "u"}', Reason.MISSING_GROUP_ID),
    ('{"type": "page", "messageId": "q7", "userId": "u", "timestamp": 17000}', Reason.INVALID_TIMESTAMP),
    ('{"type": "page", "messageId": "q8", "userId": "u", "sentAt": "yesterday"}', Reason.INVALID_TIMESTAMP),
    ('{"type": "page", "messageId": "q9", "userId": "u", "properties": {"blob": "' + "x" * 500 + '"}}',
     Reason.OVERSIZED),
]


def test_bad_records_go_to_quarantine_with_a_typed_reason(spark):
    lines = [line for line, _ in BAD]
    enveloped = envelope(spark, lines, max_event_bytes=400)
    assert select_events(enveloped).count() == 0
    actual = select_quarantine(enveloped).select("reason", "raw", "source_file", "batch_index")
    expected = spark.createDataFrame(
        [(reason, line, f"f{i}", None) for i, (line, reason) in enumerate(BAD)],
        "reason string, raw string, source_file string, batch_index int")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_bad_member_of_a_batch_is_quarantined_alone(spark):
    enveloped = envelope(spark, [BATCH])
    assert select_events(enveloped).count() == 2
    actual = select_quarantine(enveloped).select("reason", "message_id", "source_id", "batch_index", "received_date")
    expected = spark.createDataFrame([(Reason.MISSING_MESSAGE_ID, None, source_id("wk2"), 2, date(2026, 11, 1))],
                                     "reason string, message_id string, source_id string, batch_index int, "
                                     "received_date date")
    assert_df_equality(actual, expected, ignore_nullable=True)


def test_members_that_are_not_objects_are_quarantined_with_their_exact_text(spark):
    line = '{"batch": [{"type": "page", "messageId": "p1", "userId": "u"}, 5, null, "text", [1,  2]]}'
    enveloped = envelope(spark, [line])
    assert [r.message_id for r in select_events(enveloped).collect()] == ["p1"]
    actual = select_quarantine(enveloped).select("reason", "raw", "batch_index")
    expected = spark.createDataFrame(
        [(Reason.NOT_AN_OBJECT, "5", 1), (Reason.NOT_AN_OBJECT, "null", 2), (Reason.NOT_AN_OBJECT, '"text"', 3),
         (Reason.NOT_AN_OBJECT, "[1,  2]", 4)],
        "reason string, raw string, batch_index int")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_envelope_fields_of_other_json_types_are_read_as_their_exact_text(spark):
    lines = [
        '{"type": "page", "messageId": {"a": [1, 2.50]}, "userId": true, "event": 1e3}',
        "{'type': 'page', 'messageId': 'single-quoted', 'anonymousId': 'a'}",  # Spark's JSON reader takes these
        '{"type": "page", "messageId": "caf\\u00e9 \\"q\\"", "userId": "u", "batch": null}',
    ]
    actual = select_events(envelope(spark, lines)).select("message_id", "user_id", "event", "raw")
    expected = spark.createDataFrame(
        [('{"a": [1, 2.50]}', "true", "1e3", lines[0]), ("single-quoted", None, None, lines[1]),
         ('caf\u00e9 "q"', "u", None, lines[2])],
        "message_id string, user_id string, event string, raw string")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_oversized_batch_line_is_not_parsed(spark):
    big = json.dumps({"batch": [{"type": "page", "messageId": str(i), "userId": "u"} for i in range(50)]})
    enveloped = envelope(spark, [big], max_event_bytes=100, max_batch_bytes=1000)
    rows = select_quarantine(enveloped).select("reason", "raw", "detail").collect()
    assert [(r.reason, r.raw) for r in rows] == [(Reason.OVERSIZED, big)]
    assert rows[0].detail == f"size {len(big)} bytes"


def test_messages_without_write_key_or_received_at_use_defaults(spark):
    line = '{"type": "screen", "messageId": "s1", "anonymousId": "a"}'
    row = select_events(envelope(spark, [line])).select("source_id", "received_at", "received_date").first()
    assert (row.source_id, row.received_at, row.received_date) == ("default", INGESTED, INGESTED.date())


def test_write_key_is_never_stored(spark):
    enveloped = envelope(spark, [BATCH])
    texts = select_events(enveloped).drop("raw").select(F.to_json(F.struct("*")).alias("j")).collect()
    assert texts and not any("wk2" in row.j for row in texts)


@pytest.mark.parametrize("reason", Reason.ALL)
def test_every_reason_is_exercised(reason):
    # Guards the table above: a new reason needs a test case.
    assert reason in {r for _, r in BAD}
