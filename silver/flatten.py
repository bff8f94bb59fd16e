"""Bronze rows -> silver rows: parse once, correct time, dedup, flatten into typed columns.

Pure transforms. The raw text of each bronze event is parsed once into a VARIANT
(``with_parsed``); every later step navigates that value. A flattened column takes the value at
its JSON path cast to the column's established type *only when the cast keeps the value*
(``1.5`` never becomes ``1`` in a bigint column): otherwise the column is NULL and the original
JSON value is kept in the row's ``_rescued`` object under the column's name, and
``explode_discards`` turns those into audit rows.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType, TimestampType

from lakehouse.columns import parse_iso_timestamp_sql
from lakehouse.spark import with_constants
from lakehouse.sqltext import literal, quote
from silver.layout import (CONTEXT, OVERFLOW, PROPERTIES, RESCUED, TRAITS, TableLayout,
                           builtin_columns, json_path_text)
from silver.schema import BIGINT, BOOLEAN, DOUBLE, STRING, TIMESTAMP

SECTION_COLUMNS = {CONTEXT: "_context", PROPERTIES: "_properties", TRAITS: "_traits"}
# The batch's own columns of every silver row (see with_parsed).
BATCH_SCHEMA = StructType([StructField("loaded_at", TimestampType()), StructField("silver_batch_id", LongType())])


def batch_row(loaded_at: datetime, batch_id: int) -> tuple[datetime, int]:
    """A batch's values of :data:`BATCH_SCHEMA`, as its rows hold them. A naive ``loaded_at`` (as
    Spark returns it from the journal) is local time, as ``F.lit`` would read it."""
    return loaded_at.astimezone(timezone.utc), batch_id


def corrected_timestamp(timestamp: Column, sent_at: Column, original: Column, received_at: Column) -> Column:
    """Event time corrected for the client's clock: ``received_at - (sent_at - original)``.

    Falls back to the event's own timestamp, then ``received_at``, when a part is missing.
    """
    micros = F.unix_micros(received_at) - (F.unix_micros(sent_at) - F.unix_micros(original))
    return F.coalesce(F.timestamp_micros(micros), timestamp, received_at)


def filter_duplicates(bronze_df: DataFrame) -> DataFrame:
    """One row per (source_id, message_id): the first received (then the smallest raw text)."""
    first = Window.partitionBy("source_id", "message_id").orderBy("received_at", "raw")
    return bronze_df.withColumn("_n", F.row_number().over(first)).filter(F.col("_n") == 1).drop("_n")


def with_parsed(bronze_df: DataFrame, loaded_at: datetime, batch_id: int) -> DataFrame:
    """Parse each bronze event once and add the built-in silver columns.

    ``loaded_at`` and ``batch_id`` reach the rows as data, not literals (see
    :func:`lakehouse.spark.with_constants`): the parse's code is the same in every batch.

    Returns:
        One row per event with every built-in column (see ``layout.builtin_columns``),
        ``type``, and the VARIANT sections ``_context``, ``_properties``, ``_traits``.
    """
    v = F.col("_v")
    original = F.coalesce("original_timestamp", "timestamp")
    return (
        bronze_df
        .transform(with_constants, batch_row(loaded_at, batch_id), BATCH_SCHEMA)
        .withColumn("_v", F.try_parse_json("raw"))
        .select(
            F.col("message_id").alias("id"), "source_id", "anonymous_id", "user_id", "type",
            corrected_timestamp(F.col("timestamp"), F.col("sent_at"), original, F.col("received_at")).alias("timestamp"),
            original.alias("original_timestamp"), "sent_at", "received_at",
            "loaded_at", "silver_batch_id",
            F.col("event").alias("event_text"),
            F.coalesce(F.try_variant_get(v, "$.name", "string"),
                       F.try_variant_get(v, "$.properties.name", "string")).alias("name"),
            F.coalesce(F.try_variant_get(v, "$.category", "string"),
                       F.try_variant_get(v, "$.properties.category", "string")).alias("category"),
            F.try_variant_get(v, "$.groupId", "string").alias("group_id"),
            F.try_variant_get(v, "$.previousId", "string").alias("previous_id"),
            _object(v, "context").alias("_context"),
            _object(v, "properties").alias("_properties"),
            _object(v, "traits").alias("_traits"),
            "received_date",
        )
    )


def _object(v: Column, key: str) -> Column:
    """The section as a VARIANT when it is a JSON object, else NULL (``"properties": 5``).

    (Casting to an empty struct is the cheap object test: it reads no field.)
    """
    section = F.try_variant_get(v, f"$.{key}", "variant")
    return F.when(F.try_variant_get(section, "$", "struct<>").isNotNull(), section)


def leaf_sql(section: str, path: Sequence[str]) -> str:
    """SQL for the VARIANT at ``path`` under the ``section`` column (NULL when absent).

    Keys go into a JSON path as ``['key']``; a key holding a quote or a backslash cannot be
    written there unambiguously, so that step reads the object as a map instead.
    """
    expr, pending = quote(section), "$"
    for key in path:
        if "'" not in key and "\\" not in key:
            pending += f"['{key}']"
        else:
            if pending != "$":
                expr = f"try_variant_get({expr}, {literal(pending)}, 'variant')"
            expr = f"try_element_at(try_variant_get({expr}, '$', 'map<string,variant>'), {literal(key)})"
            pending = "$"
    return f"try_variant_get({expr}, {literal(pending)}, 'variant')" if pending != "$" else expr


def leaf(section: str, path: Sequence[str]) -> Column:
    """:func:`leaf_sql` as a Column, for a section (``context``, ``properties``, ``traits``)."""
    return F.expr(leaf_sql(SECTION_COLUMNS[section], path))


def cast_sql(value: str, type_: str) -> str:
    """SQL casting the VARIANT ``value`` to the column type (possibly lossy: ``ok_sql`` decides)."""
    text = f"try_variant_get({value}, '$', 'string')"
    if type_ == STRING:
        return text
    if type_ == TIMESTAMP:
        return f"CASE WHEN schema_of_variant({value}) = 'STRING' THEN {parse_iso_timestamp_sql(text)} END"
    return f"try_variant_get({value}, '$', '{_SPARK_TYPES[type_]}')"


def ok_sql(cast: str, text: str, type_: str) -> str:
    """SQL: true when ``cast`` (the value cast to ``type_``) keeps the value whose text is ``text``.

    ``1.5`` -> bigint 1 is not kept, ``"abc"`` -> double NULL is not kept, ``5`` -> timestamp is
    not kept; ``"42"`` -> 42 is. Booleans widen to numbers (true = 1), as within-batch
    widening allows.
    """
    is_bool = f"{text} IN ('true', 'false')"
    if type_ in (STRING, TIMESTAMP):
        return f"{cast} IS NOT NULL"
    if type_ == BIGINT:
        return f"{cast} IS NOT NULL AND (CAST({cast} AS STRING) = {text} OR {is_bool})"
    if type_ == DOUBLE:
        return f"{cast} IS NOT NULL AND (try_cast({text} AS DOUBLE) = {cast} OR {is_bool})"
    if type_ == BOOLEAN:
        return f"{cast} IS NOT NULL AND {is_bool}"
    raise ValueError(f"unknown silver type {type_!r}")


_SPARK_TYPES = {STRING: "string", TIMESTAMP: "timestamp", BIGINT: "bigint", DOUBLE: "double", BOOLEAN: "boolean"}


def with_event(parsed_df: DataFrame, event_tables: dict[str, str]) -> DataFrame:
    """Add ``event``: the table name of each track call's event (``{event text: table}``)."""
    if not event_tables:
        return parsed_df.withColumn("event", F.lit(None).cast("string"))
    pairs = ", ".join(f"{literal(k)}, {literal(v)}" for k, v in sorted(event_tables.items()))
    return parsed_df.withColumn("event", F.expr(f"map({pairs})[event_text]"))


def select_table(parsed_df: DataFrame, layout: TableLayout, *, presence: bool = False) -> DataFrame:
    """The rows of ``parsed_df`` in ``layout``'s columns: built-ins, flattened, then the trailer.

    One row per event (the caller filters the events that belong to the table; for track
    tables ``with_event`` adds the ``event`` column first). With ``presence``, each flattened
    column ``c`` also gets ``_present_c``: the key was in the message, even as an explicit null.

    Built as SQL text in steps that each name their results (leaf, then text and cast, then
    the check), so each leaf is navigated and cast once per row however many checks read it,
    and a table costs four calls into Spark however wide it is (building Column objects for
    200 tables took minutes of driver time).
    """
    builtins = [name for name, _ in builtin_columns(layout.kind)]
    head = [quote(n) for n in builtins[: builtins.index(RESCUED)]] + ["received_date"]
    columns = list(enumerate(layout.columns))
    typed_cols = [(i, c) for i, c in columns if c.column != OVERFLOW]
    overflow = [(i, c) for i, c in columns if c.column == OVERFLOW]
    leaves = [f"_l{i}" for i, _ in columns]
    leaves_df = parsed_df.selectExpr(
        *head, *[f"{leaf_sql(SECTION_COLUMNS[c.section], c.path)} AS _l{i}" for i, c in columns])
    cast_df = leaves_df.selectExpr(
        *head, *leaves,
        *[f"try_variant_get(_l{i}, '$', 'string') AS _t{i}" for i, _ in typed_cols],
        *[f"{cast_sql(f'_l{i}', c.type)} AS _c{i}" for i, c in typed_cols])
    checked_df = cast_df.selectExpr(
        *head, *leaves, *[f"_c{i}" for i, _ in typed_cols],
        *[f"coalesce(_l{i} IS NOT NULL AND NOT is_variant_null(_l{i}) AND NOT ({ok_sql(f'_c{i}', f'_t{i}', c.type)}),"
          f" false) AS _f{i}" for i, c in typed_cols])
    rescued = _json_object_sql([(c.column, f"CASE WHEN _f{i} THEN _l{i} END") for i, c in typed_cols])
    if typed_cols:  # serialised only on the rare row that has something to rescue
        rescued = f"CASE WHEN {' OR '.join(f'_f{i}' for i, _ in typed_cols)} THEN {rescued} END"
    overflowed = _json_object_sql([(json_path_text(c.section, c.path), f"_l{i}") for i, c in overflow])
    return checked_df.selectExpr(
        *head[:-1],
        *[f"CAST(CASE WHEN NOT _f{i} THEN _c{i} END AS {_SPARK_TYPES[c.type]}) AS {quote(c.column)}"
          for i, c in typed_cols],
        f"{rescued} AS {RESCUED}", f"{overflowed} AS {OVERFLOW}", "received_date",
        *([f"_l{i} IS NOT NULL AS {quote('_present_' + c.column)}" for i, c in typed_cols] if presence else []),
    )


def _json_object_sql(fields: list[tuple[str, str]]) -> str:
    """SQL: a JSON object text of the non-null fields, or NULL when there are none."""
    if not fields:
        return "CAST(NULL AS STRING)"
    text = "to_json(named_struct(" + ", ".join(f"{literal(name)}, {expr}" for name, expr in fields) + "))"
    return f"nullif({text}, '{{}}')"


def explode_discards(table_df: DataFrame, table: str, types: dict[str, str]) -> DataFrame:
    """One audit row per rescued value: ``(table, id, column, value, reason, ...)``.

    Args:
        table_df: Rows in a silver table's layout (``select_table``'s output).
        table: The table's name.
        types: ``{column: type}`` of the table's flattened columns.
    """
    type_of = F.create_map(*[F.lit(x) for pair in sorted(types.items()) for x in pair]) if types else None
    entries = F.try_variant_get(F.try_parse_json(RESCUED), "$", "map<string,variant>")
    exploded = table_df.filter(F.col(RESCUED).isNotNull()).select(
        "id", "source_id", "received_at", "silver_batch_id", "received_date",
        F.explode(entries).alias("column", "_value"))
    expected = type_of[F.col("column")] if type_of is not None else F.lit(None)
    return exploded.select(
        F.lit(table).alias("table"), F.col("id").alias("row_id"), "column",
        F.to_json("_value").alias("value"),
        F.concat(F.lit("cannot keep "), F.lower(F.schema_of_variant("_value")), F.lit(" value in "),
                 F.coalesce(expected, F.lit("?")), F.lit(" column")).alias("reason"),
        "source_id", "received_at", "silver_batch_id", "received_date",
    )
