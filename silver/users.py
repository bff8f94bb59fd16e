"""``users`` (latest traits per user) and ``identity_map`` (anonymous id -> user id).

Pure transforms; the job merges their output into the tables (see ``job.py``).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse.sqltext import quote
from silver.flatten import select_table
from silver.layout import OVERFLOW, TRAITS, TableLayout

USER_KEYS = ("source_id", "user_id")


def trait_columns(identifies: TableLayout) -> list[tuple[str, str]]:
    """``(column, type)`` of the identifies table's trait columns (the users table has the same)."""
    return [(c.column, c.type) for c in identifies.columns if c.section == TRAITS and c.column != OVERFLOW]


def latest_traits(identify_df: DataFrame, identifies: TableLayout) -> DataFrame:
    """One row per (source_id, user_id) of a batch's identify calls: each trait's latest value.

    "Latest" is by (timestamp, received_at, id). A trait sent as an explicit null counts: it
    clears the trait. A trait the latest calls do not mention keeps its earlier value.

    Returns:
        ``source_id``, ``user_id``, ``updated_at`` (the newest identify's timestamp),
        ``loaded_at`` (the batch's), and per
        trait column ``c``: ``_c_<c>``, a struct (``v`` value, ``at`` its identify's timestamp)
        that is NULL when no identify of the batch mentioned the trait.
    """
    traits = trait_columns(identifies)
    order = "named_struct('t', timestamp, 'r', received_at, 'i', id)"
    rows_df = select_table(identify_df.filter(F.col("user_id").isNotNull()), identifies, presence=True)
    aggregates = [f"max({order}).t AS updated_at", "max(loaded_at) AS loaded_at"] + [
        f"max_by(named_struct('v', {quote(c)}, 'at', timestamp), CASE WHEN {quote('_present_' + c)} THEN {order} END) "
        f"AS {quote('_c_' + c)}" for c, _ in traits]
    return rows_df.groupBy(*USER_KEYS).agg(*[F.expr(a) for a in aggregates])


def user_merge_sets(identifies: TableLayout) -> tuple[dict[str, str], dict[str, str]]:
    """SQL for the users MERGE: ``(update set, insert values)`` over target ``t`` and source ``s``.

    A batch's trait value wins unless the stored profile was updated by a newer identify; then
    it only fills a trait the user does not have (late events do not undo newer ones).
    """
    update = {"updated_at": "greatest(t.updated_at, s.updated_at)", "loaded_at": "s.loaded_at"}
    insert = {"source_id": "s.source_id", "id": "s.user_id", "updated_at": "s.updated_at", "loaded_at": "s.loaded_at"}
    for column, _ in trait_columns(identifies):
        target, latest = f"t.{quote(column)}", f"s.{quote('_c_' + column)}"
        update[quote(column)] = (f"CASE WHEN {latest} IS NOT NULL AND (t.updated_at IS NULL OR {latest}.at >= t.updated_at "
                                 f"OR {target} IS NULL) THEN {latest}.v ELSE {target} END")
        insert[quote(column)] = f"{latest}.v"
    return update, insert


def identity_pairs(parsed_df: DataFrame) -> DataFrame:
    """One row per (source_id, anonymous_id, user_id) seen together in the batch.

    From identify calls (their anonymousId and userId) and alias calls (previousId -> userId).
    """
    identify = (parsed_df.filter((F.col("type") == "identify") & F.col("anonymous_id").isNotNull()
                                 & F.col("user_id").isNotNull())
                .select("source_id", "anonymous_id", "user_id", "timestamp", F.lit("identify").alias("via")))
    alias = (parsed_df.filter((F.col("type") == "alias") & F.col("previous_id").isNotNull() & F.col("user_id").isNotNull())
             .select("source_id", F.col("previous_id").alias("anonymous_id"), "user_id", "timestamp",
                     F.lit("alias").alias("via")))
    return (
        identify.unionByName(alias)
        .groupBy("source_id", "anonymous_id", "user_id")
        .agg(F.min("timestamp").alias("first_seen_at"), F.max("timestamp").alias("last_seen_at"),
             F.min("via").alias("via"))
    )
