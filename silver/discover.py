"""What a batch holds: which tables it feeds and which JSON paths (with which types) they get.

Two small aggregations over the parsed batch, both returning a few rows to the driver:

1. ``discover_df``: per (type, event) group, Spark's ``schema_of_variant_agg`` of each section.
   Most batches stop here: the paths are known and their types were fixed when first seen.
2. ``inspect_df``, only for paths seen for the first time whose kind needs the values: strings
   (all ISO-8601 timestamps? then a timestamp column) and mixed kinds (``VARIANT``: which kinds,
   to widen exactly, ``true`` and ``1`` -> bigint).

``context`` paths are typed once for the whole lake (``context_page_url`` has one type in every
table); ``properties`` and ``traits`` per table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.columns import parse_iso_timestamp
from lakehouse.naming import table_name
from lakehouse.sqltext import literal
from silver import schema
from silver.flatten import SECTION_COLUMNS, leaf_sql
from silver.layout import CONTEXT, FIXED_TABLES, KINDS, TYPE_TABLES

Path = tuple[str, ...]
GLOBAL = "*"  # the scope of context paths


def discover_df(parsed_df: DataFrame) -> DataFrame:
    """One row per (type, event_text): row count and each section's merged variant schema."""
    return parsed_df.groupBy("type", "event_text").agg(
        F.count(F.lit(1)).alias("rows"),
        *[F.schema_of_variant_agg(column).alias(section) for section, column in SECTION_COLUMNS.items()],
    )


@dataclass(frozen=True)
class Group:
    """One row of ``discover_df``: a call type (and event name) and the kinds of its paths."""

    type: str
    event_text: str | None
    rows: int
    kinds: Mapping[tuple[str, Path], str]  # (section, path) -> schema_of_variant kind

    @classmethod
    def from_row(cls, row) -> "Group":
        kinds = {}
        for section in SECTION_COLUMNS:
            if row[section]:
                parsed = schema.parse_type(row[section])
                if isinstance(parsed, dict):  # an empty or non-object section has no paths
                    kinds.update({(section, path): kind for path, kind in schema.leaves(parsed).items()})
        return cls(row["type"], row["event_text"], row["rows"], kinds)


def event_table(event_text: str) -> str:
    """The per-event table of a track event name."""
    return table_name(event_text, FIXED_TABLES)


def tables_of(group: Group) -> list[tuple[str, str]]:
    """``(table, kind)`` pairs the group's rows go to."""
    table = TYPE_TABLES[group.type]
    if group.type == "track":
        return [(table, table), (event_table(group.event_text), "event")]
    return [(table, table)]


def scope_of(table: str, section: str) -> str:
    return GLOBAL if section == CONTEXT else table


def group_filter(type_: str, event_texts: Sequence[str] | None = None) -> str:
    """SQL selecting the rows of a call type (and, for an event table, of its event names)."""
    condition = f"type = {literal(type_)}"
    if event_texts is not None:
        condition += " AND event_text IN (" + ", ".join(literal(t) for t in sorted(event_texts)) + ")"
    return condition


def inspect_df(parsed_df: DataFrame, targets: Sequence[tuple[int, str, str, Path, bool]]) -> DataFrame:
    """Per inspected path: the kinds of its values and whether every string is an ISO timestamp.

    Args:
        parsed_df: The parsed batch.
        targets: ``(id, row filter SQL, section, path, strings)``; rows that pass the filter
            contribute. ``strings``: discovery saw only strings there (kind ``STRING`` in every
            group), so only the texts are read; the kinds of the others' values are read too.

    Returns:
        One row per id that had a non-null value: ``id``, ``kinds`` (array of kind names),
        ``all_iso`` (true when every string value parses as an ISO-8601 timestamp).
    """
    by_filter: dict[str, list[str]] = {}
    for target_id, condition, section, path, strings in targets:
        value = leaf_sql(SECTION_COLUMNS[section], path)
        # A string path carries its text alone: no kind computed per value (schema_of_variant
        # builds a string for each one). Most new paths are strings: 988 of 1,061 in a 200k-event
        # first batch, whose inspection took 9.6-11.1 s this way against 11.9-14.1 s (warm).
        fields = (f"CAST(NULL AS VARIANT), 's', try_variant_get({value}, '$', 'string')" if strings
                  else f"{value}, 's', CAST(NULL AS STRING)")
        by_filter.setdefault(condition, []).append(f"named_struct('id', {int(target_id)}, 'v', {fields})")
    # Each row builds only the entries of the filters it passes (a CASE per filter).
    arrays = [f"CASE WHEN {condition} THEN array({', '.join(entries)}) ELSE array() END"
              for condition, entries in by_filter.items()]
    entry = F.col("entry")
    text, has_value = entry["s"], entry["v"].isNotNull() & ~F.is_variant_null(entry["v"])
    kind = F.schema_of_variant(entry["v"])
    is_string = text.isNotNull() | (kind == "STRING")
    return (
        parsed_df
        .selectExpr(f"explode(concat({', '.join(arrays)})) AS entry")
        .filter(text.isNotNull() | has_value)
        .groupBy(entry["id"].alias("id"))
        .agg(F.collect_set(F.when(text.isNotNull(), F.lit("STRING"))
                           .when(kind.startswith("OBJECT"), F.lit("OBJECT"))
                           .when(kind.startswith("ARRAY"), F.lit("ARRAY")).otherwise(kind)).alias("kinds"),
             F.min(F.when(is_string, parse_iso_timestamp(
                 F.coalesce(text, F.try_variant_get(entry["v"], "$", "string"))).isNotNull())).alias("all_iso"))
    )


def resolve_type(kinds: Sequence[str], all_iso: bool | None) -> str | None:
    """The silver type for a new path from the kinds of its values in the batch."""
    return schema.widen(schema.silver_type(kind, all_iso=bool(all_iso)) for kind in kinds)


def needs_values(kind: str) -> bool:
    return kind in schema.NEEDS_VALUES


def sections_of(kind: str) -> tuple[str, ...]:
    return KINDS[kind][1]
