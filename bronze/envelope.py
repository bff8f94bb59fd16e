"""Parse landing lines into Segment envelopes and decide, per record, bronze or quarantine.

Pure transforms: DataFrames in, DataFrames out. The input has one row per landing line with
``value`` (the text), ``source_file`` and the micro-batch metadata; the output has one row per
*record*: a message of a ``{"batch": [...]}`` envelope, a single message, or a line that could
not be read as either. Each record carries ``reason``: null for a good event, else why it is
quarantined. Every line yields at least one record, so lines in = events + quarantine rows
(counting one per message of a batch envelope).

Each line is parsed once with ``from_json``; only the members of batch envelopes are parsed a
second time, inside the same projection.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (ArrayType, DateType, IntegerType, LongType, StringType, StructField,
                               StructType, TimestampType)

from lakehouse.columns import parse_iso_timestamp

SEGMENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")


class Reason:
    """Why a record is quarantined. Stored as text in ``bronze.quarantine.reason``."""

    OVERSIZED = "oversized"  # line or message larger than the configured limit
    INVALID_JSON = "invalid_json"  # not parseable as JSON (includes truncated lines)
    NOT_AN_OBJECT = "not_an_object"  # JSON, but an array, string, number or null
    INVALID_ENVELOPE = "invalid_envelope"  # an object whose envelope fields have unusable types
    EMPTY_BATCH = "empty_batch"  # {"batch": []}
    MISSING_TYPE = "missing_type"
    UNKNOWN_TYPE = "unknown_type"
    MISSING_MESSAGE_ID = "missing_message_id"
    MISSING_IDENTITY = "missing_identity"  # neither userId nor anonymousId
    MISSING_EVENT = "missing_event"  # a track call without an event name
    MISSING_PREVIOUS_ID = "missing_previous_id"  # an alias call without previousId
    MISSING_GROUP_ID = "missing_group_id"  # a group call without groupId
    INVALID_TIMESTAMP = "invalid_timestamp"  # a timestamp field that is not ISO-8601

    ALL = (OVERSIZED, INVALID_JSON, NOT_AN_OBJECT, INVALID_ENVELOPE, EMPTY_BATCH, MISSING_TYPE,
           UNKNOWN_TYPE, MISSING_MESSAGE_ID, MISSING_IDENTITY, MISSING_EVENT, MISSING_PREVIOUS_ID,
           MISSING_GROUP_ID, INVALID_TIMESTAMP)


_CORRUPT = "_corrupt_record"
_MESSAGE_FIELDS = ("messageId", "type", "event", "userId", "anonymousId", "previousId", "groupId",
                   "timestamp", "sentAt", "originalTimestamp", "receivedAt", "writeKey")
_TIME_FIELDS = ("timestamp", "sentAt", "originalTimestamp", "receivedAt")
# Strings, even for ids: a numeric userId arrives as its text, as Segment coerces it.
MESSAGE_SCHEMA = StructType([StructField(name, StringType()) for name in _MESSAGE_FIELDS]
                            + [StructField(_CORRUPT, StringType())])
LINE_SCHEMA = StructType(list(MESSAGE_SCHEMA.fields[:-1]) + [StructField("batch", ArrayType(StringType())),
                                                             StructField(_CORRUPT, StringType())])
_JSON_OPTIONS = {"columnNameOfCorruptRecord": _CORRUPT, "mode": "PERMISSIVE"}

BRONZE_SCHEMA = StructType([
    StructField("message_id", StringType()),
    StructField("type", StringType()),
    StructField("event", StringType()),
    StructField("user_id", StringType()),
    StructField("anonymous_id", StringType()),
    StructField("source_id", StringType()),
    StructField("timestamp", TimestampType()),
    StructField("sent_at", TimestampType()),
    StructField("original_timestamp", TimestampType()),
    StructField("received_at", TimestampType()),
    StructField("raw", StringType()),
    StructField("ingested_at", TimestampType()),
    StructField("batch_id", LongType()),
    StructField("source_file", StringType()),
    StructField("batch_index", IntegerType()),
    StructField("received_date", DateType()),
])
QUARANTINE_SCHEMA = StructType([
    StructField("reason", StringType()),
    StructField("detail", StringType()),
    StructField("raw", StringType()),
    StructField("message_id", StringType()),
    StructField("type", StringType()),
    StructField("source_id", StringType()),
    StructField("received_at", TimestampType()),
    StructField("ingested_at", TimestampType()),
    StructField("batch_id", LongType()),
    StructField("source_file", StringType()),
    StructField("batch_index", IntegerType()),
    StructField("received_date", DateType()),
])


def _line_reason(line: Column, value: Column, max_batch_bytes: int) -> Column:
    """Why a whole line cannot be read (null when it can)."""
    return (
        F.when(F.octet_length(value) > max_batch_bytes, F.lit(Reason.OVERSIZED))
        .when(line.isNull(), F.lit(Reason.INVALID_JSON))  # from_json gives null for an empty line
        .when(line[_CORRUPT].isNotNull() & F.try_parse_json(value).isNull(), F.lit(Reason.INVALID_JSON))
        .when(line[_CORRUPT].isNotNull() & ~F.ltrim(value).startswith("{"), F.lit(Reason.NOT_AN_OBJECT))
        .when(line[_CORRUPT].isNotNull(), F.lit(Reason.INVALID_ENVELOPE))
        .when(line["batch"].isNotNull() & (F.size(line["batch"]) == 0), F.lit(Reason.EMPTY_BATCH))
    )


def explode_records(lines_df: DataFrame, max_batch_bytes: int) -> DataFrame:
    """One row per record: each message of a batch envelope, or the line itself.

    Args:
        lines_df: Rows with ``value`` (the line's text) and any metadata columns, which are kept.
        max_batch_bytes: Lines longer than this are not parsed at all (reason ``oversized``).

    Returns:
        The metadata columns plus ``raw`` (the record's text: the exact line, or the batch member
        as Spark re-serialises it), ``batch_index`` (position in the envelope, null for single
        messages), ``message`` (parsed envelope fields), ``batch_meta`` (the envelope's sentAt,
        writeKey, receivedAt) and ``line_reason``.
    """
    value, line = F.col("value"), F.col("_line")
    is_batch = F.col("line_reason").isNull() & line["batch"].isNotNull()
    metadata = [c for c in lines_df.columns if c != "value"]
    # Kept cheap on purpose (measured on 200k lines): no higher-order functions and no struct
    # arrays, which run interpreted; the whole line text is not copied to every batch member.
    # The columns posexplode carries are projected first: in one select with the generator,
    # Spark carried the line's text and its parsed batch into the explode and copied both to every
    # member's row (a line of n members cost n copies of itself; the explode of a warm 500k-event
    # batch took 2.65-2.73 s that way, 2.20-2.25 s this way).
    return (
        lines_df
        .withColumn("_line", F.when(F.octet_length(value) <= max_batch_bytes,
                                    F.from_json(value, LINE_SCHEMA, _JSON_OPTIONS)))
        .withColumn("line_reason", _line_reason(line, value, max_batch_bytes))
        .select(
            *metadata, "line_reason",
            F.when(~is_batch, value).alias("_single_raw"),
            F.when(~is_batch, F.struct(*[line[name].alias(name) for name in MESSAGE_SCHEMA.names])).alias("_single"),
            F.struct(*[line[k].alias(k) for k in ("sentAt", "writeKey", "receivedAt")]).alias("batch_meta"),
            F.when(is_batch, line["batch"]).alias("_members"),
        )
        # posexplode_outer: a line that is not a batch gives one row with nulls. (A plain explode
        # would make Spark infer a size() > 0 filter with from_json inlined into it.)
        .select(*metadata, "line_reason", "_single_raw", "_single", "batch_meta",
                F.posexplode_outer("_members").alias("_index", "_member"))
        .select(
            *metadata, "line_reason", "batch_meta",
            F.when(F.col("_index").isNull(), F.col("_single_raw")).otherwise(F.col("_member")).alias("raw"),
            F.col("_index").cast(IntegerType()).alias("batch_index"),
            F.when(F.col("_index").isNull(), F.col("_single"))
            .otherwise(F.from_json(F.col("_member"), MESSAGE_SCHEMA, _JSON_OPTIONS)).alias("message"),
        )
    )


def _record_reason(max_event_bytes: int) -> Column:
    message = F.col("message")
    ts = {name: F.col(f"_ts_{name}") for name in _TIME_FIELDS}
    bad_time = F.lit(False)
    for name in _TIME_FIELDS:
        bad_time = bad_time | (F.col(f"_text_{name}").isNotNull() & ts[name].isNull())
    return (
        F.when(F.col("line_reason").isNotNull(), F.col("line_reason"))
        .when(F.col("raw").isNull(), F.lit(Reason.NOT_AN_OBJECT))  # a null member of a batch
        .when(F.octet_length("raw") > max_event_bytes, F.lit(Reason.OVERSIZED))
        .when(message[_CORRUPT].isNotNull() & F.try_parse_json("raw").isNull(), F.lit(Reason.INVALID_JSON))
        .when(message[_CORRUPT].isNotNull() & ~F.ltrim("raw").startswith("{"), F.lit(Reason.NOT_AN_OBJECT))
        .when(message[_CORRUPT].isNotNull(), F.lit(Reason.INVALID_ENVELOPE))
        .when(F.col("type").isNull(), F.lit(Reason.MISSING_TYPE))
        .when(~F.col("type").isin(*SEGMENT_TYPES), F.lit(Reason.UNKNOWN_TYPE))
        .when(F.col("message_id").isNull(), F.lit(Reason.MISSING_MESSAGE_ID))
        .when(F.col("user_id").isNull() & F.col("anonymous_id").isNull(), F.lit(Reason.MISSING_IDENTITY))
        .when((F.col("type") == "track") & F.col("event").isNull(), F.lit(Reason.MISSING_EVENT))
        .when((F.col("type") == "alias") & _blank(message["previousId"]), F.lit(Reason.MISSING_PREVIOUS_ID))
        .when((F.col("type") == "group") & _blank(message["groupId"]), F.lit(Reason.MISSING_GROUP_ID))
        .when(bad_time, F.lit(Reason.INVALID_TIMESTAMP))
    )


def _blank(column: Column) -> Column:
    return column.isNull() | (F.trim(column) == "")


def _nonblank(column: Column) -> Column:
    return F.when(~_blank(column), column)


def source_id_of(write_key: Column, default_source_id: str) -> Column:
    """The tenant id: ``wk_`` + a hash of the writeKey (the key itself is a credential and is
    never stored in a column), or the configured default for messages without one."""
    return F.when(_blank(write_key), F.lit(default_source_id)).otherwise(
        F.concat(F.lit("wk_"), F.substring(F.sha2(write_key, 256), 1, 16)))


def with_envelope(records_df: DataFrame, *, default_source_id: str, max_event_bytes: int) -> DataFrame:
    """Add typed envelope columns and ``reason`` (null = a valid event) to exploded records.

    Envelope-level ``sentAt``, ``writeKey`` and ``receivedAt`` of a batch apply to members that do
    not carry their own. ``received_at`` falls back to ``ingested_at`` when the collector did not
    stamp one, and partitions the tables by day.
    """
    message, meta = F.col("message"), F.col("batch_meta")
    texts = {
        "timestamp": message["timestamp"],
        "sentAt": F.coalesce(message["sentAt"], meta["sentAt"]),
        "originalTimestamp": message["originalTimestamp"],
        "receivedAt": F.coalesce(message["receivedAt"], meta["receivedAt"]),
    }
    with_times = records_df
    for name, text in texts.items():
        with_times = (with_times.withColumn(f"_text_{name}", _nonblank(text))
                      .withColumn(f"_ts_{name}", parse_iso_timestamp(F.col(f"_text_{name}"))))
    received_at = F.coalesce(F.col("_ts_receivedAt"), F.col("ingested_at"))
    return (
        with_times
        .withColumn("message_id", _nonblank(message["messageId"]))
        .withColumn("type", _nonblank(message["type"]))
        .withColumn("event", _nonblank(message["event"]))
        .withColumn("user_id", _nonblank(message["userId"]))
        .withColumn("anonymous_id", _nonblank(message["anonymousId"]))
        .withColumn("source_id", source_id_of(F.coalesce(message["writeKey"], meta["writeKey"]), default_source_id))
        .withColumn("timestamp", F.col("_ts_timestamp"))
        .withColumn("sent_at", F.col("_ts_sentAt"))
        .withColumn("original_timestamp", F.col("_ts_originalTimestamp"))
        .withColumn("received_at", received_at)
        .withColumn("received_date", F.to_date(received_at))
        .withColumn("reason", _record_reason(max_event_bytes))
    )


def quarantine_detail() -> Column:
    """A short human explanation next to the typed reason."""
    return (
        F.when(F.col("reason") == Reason.OVERSIZED, F.concat(F.lit("size "), F.octet_length("raw").cast("string"), F.lit(" bytes")))
        .when(F.col("reason") == Reason.UNKNOWN_TYPE, F.concat(F.lit("type "), F.to_json(F.struct("type"))))
        .when(F.col("reason") == Reason.INVALID_TIMESTAMP, F.to_json(F.struct(*[
            F.col(f"_text_{name}").alias(name) for name in _TIME_FIELDS])))
    )


def select_events(enveloped_df: DataFrame) -> DataFrame:
    """The valid records, in the ``bronze.events`` layout (one row per Segment message)."""
    return enveloped_df.filter(F.col("reason").isNull()).select(*BRONZE_SCHEMA.names)


def quarantine_columns() -> list[Column]:
    """A rejected record's ``bronze.quarantine`` columns, in the table's order."""
    derived = {"detail": quarantine_detail(), "raw": F.coalesce("raw", F.lit("null"))}
    return [derived.get(name, F.col(name)).alias(name) for name in QUARANTINE_SCHEMA.names]


def select_quarantine(enveloped_df: DataFrame) -> DataFrame:
    """The rejected records, in the ``bronze.quarantine`` layout (one row per rejected record)."""
    return enveloped_df.filter(F.col("reason").isNotNull()).select(*quarantine_columns())
