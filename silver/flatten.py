"""Bronze rows -> silver rows: parse once, correct time, dedup, flatten into typed columns.

Pure transforms. The raw text of each bronze event is parsed once into a VARIANT
(``with_parsed``); every later step navigates that value. A flattened column takes the value at
its JSON path cast to the column's established type *only when the cast keeps the value*
(``1.5`` never becomes ``1`` in a bigint column): otherwise the column is NULL and the original
JSON value is kept in the row's ``_rescued`` object under the column's name, and
``explode_discards`` turns those into audit rows.
"""

from __future__ import annotations

from typing import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse.columns import parse_iso_timestamp
from silver.layout import (CONTEXT, OVERFLOW, PROPERTIES, RESCUED, TRAITS, TableLayout,
                           builtin_columns, json_path_text)
from silver.schema import BIGINT, BOOLEAN, DOUBLE, STRING, TIMESTAMP

SECTION_COLUMNS = {CONTEXT: "_context", PROPERTIES: "_properties", TRAITS: "_traits"}


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


def with_parsed(bronze_df: DataFrame, loaded_at, batch_id: int) -> DataFrame:
    """Parse each bronze event once and add the built-in silver columns.

    Returns:
        One row per event with every built-in column (see ``layout.builtin_columns``),
        ``type``, and the VARIANT sections ``_context``, ``_properties``, ``_traits``.
    """
    v = F.col("_v")
    original = F.coalesce("original_timestamp", "timestamp")
    return (
        bronze_df
        .withColumn("_v", F.try_parse_json("raw"))
        .select(
            F.col("message_id").alias("id"), "source_id", "anonymous_id", "user_id", "type",
            corrected_timestamp(F.col("timestamp"), F.col("sent_at"), original, F.col("received_at")).alias("timestamp"),
            original.alias("original_timestamp"), "sent_at", "received_at",
            F.lit(loaded_at).cast("timestamp").alias("loaded_at"),
            F.lit(batch_id).cast("long").alias("silver_batch_id"),
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


def leaf(section: Column, path: Sequence[str]) -> Column:
    """The VARIANT at ``path`` under ``section`` (NULL when absent).

    Keys go into a JSON path as ``['key']``; a key holding a quote or a backslash cannot be
    written there unambiguously, so that step reads the object as a map instead.
    """
    expr, pending = section, "$"
    for key in path:
        if "'" not in key and "\\" not in key:
            pending += f"['{key}']"
        else:
            if pending != "$":
                expr = F.try_variant_get(expr, pending, "variant")
            expr = F.element_at(F.try_variant_get(expr, "$", "map<string,variant>"), F.lit(key))
            pending = "$"
    return F.try_variant_get(expr, pending, "variant") if pending != "$" else expr


def cast_leaf(value: Column, type_: str) -> Column:
    """The VARIANT leaf cast to the column type (possibly lossy: ``typed_ok`` decides)."""
    if type_ == STRING:
        return F.try_variant_get(value, "$", "string")
    if type_ == TIMESTAMP:
        return F.when(F.schema_of_variant(value) == "STRING",
                      parse_iso_timestamp(F.try_variant_get(value, "$", "string")))
    return F.try_variant_get(value, "$", _SPARK_TYPES[type_])


def typed_ok(cast: Column, text: Column, type_: str) -> Column:
    """True when ``cast`` (the leaf cast to ``type_``) keeps the value whose JSON text is ``text``.

    ``1.5`` -> bigint 1 is not kept, ``"abc"`` -> double NULL is not kept, ``5`` -> timestamp is
    not kept; ``"42"`` -> 42 is. Booleans widen to numbers (true = 1), as within-batch
    widening allows.
    """
    is_bool_text = text.isin("true", "false")
    if type_ in (STRING, TIMESTAMP):
        return cast.isNotNull()
    if type_ == BIGINT:
        return cast.isNotNull() & ((cast.cast("string") == text) | is_bool_text)
    if type_ == DOUBLE:
        return cast.isNotNull() & ((text.try_cast("double") == cast) | is_bool_text)
    if type_ == BOOLEAN:
        return cast.isNotNull() & is_bool_text
    raise ValueError(f"unknown silver type {type_!r}")


_SPARK_TYPES = {STRING: "string", TIMESTAMP: "timestamp", BIGINT: "bigint", DOUBLE: "double", BOOLEAN: "boolean"}


def with_event(parsed_df: DataFrame, event_tables: dict[str, str]) -> DataFrame:
    """Add ``event``: the table name of each track call's event (``{event text: table}``)."""
    names = F.create_map(*[F.lit(x) for pair in sorted(event_tables.items()) for x in pair])
    return parsed_df.withColumn("event", names[F.col("event_text")] if event_tables else F.lit(None).cast("string"))


def select_table(parsed_df: DataFrame, layout: TableLayout) -> DataFrame:
    """The rows of ``parsed_df`` in ``layout``'s columns: built-ins, flattened, then the trailer.

    One row per event (the caller filters the events that belong to the table; for track
    tables ``with_event`` adds the ``event`` column first).

    Built in steps that each name their results (leaf, then text and cast, then the checks), so
    every leaf is navigated and cast once per row however many checks read it: one expression
    tree per column would repeat them, and planning 200 such tables took minutes.
    """
    builtins = [name for name, _ in builtin_columns(layout.kind)]
    head = builtins[: builtins.index(RESCUED)] + ["received_date"]
    typed_cols = [(i, c) for i, c in enumerate(layout.columns) if c.column != OVERFLOW]
    overflow = [(i, c) for i, c in enumerate(layout.columns) if c.column == OVERFLOW]
    leaves_df = parsed_df.select(
        *head, *[leaf(F.col(SECTION_COLUMNS[c.section]), c.path).alias(f"_l{i}") for i, c in enumerate(layout.columns)])
    cast_df = leaves_df.select(
        *head, *[f"_l{i}" for i, _ in enumerate(layout.columns)],
        *[F.try_variant_get(f"_l{i}", "$", "string").alias(f"_t{i}") for i, _ in typed_cols],
        *[cast_leaf(F.col(f"_l{i}"), c.type).alias(f"_c{i}") for i, c in typed_cols])
    failed = {i: F.coalesce(F.col(f"_l{i}").isNotNull() & ~F.is_variant_null(f"_l{i}")
                            & ~typed_ok(F.col(f"_c{i}"), F.col(f"_t{i}"), c.type), F.lit(False))
              for i, c in typed_cols}
    checked_df = cast_df.select(
        *head, *[f"_l{i}" for i, _ in enumerate(layout.columns)], *[f"_c{i}" for i, _ in typed_cols],
        *[failed[i].alias(f"_f{i}") for i, _ in typed_cols])
    rescued = _json_object([F.when(F.col(f"_f{i}"), F.col(f"_l{i}")).alias(c.column) for i, c in typed_cols])
    overflowed = _json_object([F.col(f"_l{i}").alias(json_path_text(c.section, c.path)) for i, c in overflow])
    return checked_df.select(
        *builtins[: builtins.index(RESCUED)],
        *[F.when(~F.col(f"_f{i}"), F.col(f"_c{i}")).cast(_SPARK_TYPES[c.type]).alias(c.column) for i, c in typed_cols],
        rescued.alias(RESCUED), overflowed.alias(OVERFLOW), F.col("received_date"),
    )


def _json_object(fields: list[Column]) -> Column:
    """A JSON object text of the non-null fields, or NULL when there are none."""
    if not fields:
        return F.lit(None).cast("string")
    text = F.to_json(F.struct(*fields))
    return F.when(text != "{}", text)


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
