"""Gold models: pure transforms from silver DataFrames to warehouse-ready tables.

Each model's docstring states its grain, and each ends with the ``select`` that fixes its
columns. Silver tables gain columns as new properties appear, so a model reads optional context
columns through :func:`optional` (NULL when a lake has never seen them).

A *person* is a user id, or the anonymous id of a visitor who has not been identified (yet):
``person_id`` is ``u:<user_id>`` or ``a:<anonymous_id>``. Identity stitching maps an anonymous id
to the user id it was last linked to (identify or alias calls, silver ``identity_map``).
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

SESSION_GAP_SECONDS = 30 * 60
ACTIVITY_COLUMNS = ("source_id", "id", "type", "event", "user_id", "anonymous_id", "timestamp", "received_at",
                    "page_path", "campaign_name", "campaign_source")


def optional(df: DataFrame, name: str, type_: str = "string") -> Column:
    """``df[name]``, or a typed NULL when the table has no such column."""
    return F.col(name) if name in df.columns else F.lit(None).cast(type_)


def activity(tracks_df: DataFrame, pages_df: DataFrame, screens_df: DataFrame) -> DataFrame:
    """One row per track, page or screen call: who, when, what, and where it came from."""
    def shape(df: DataFrame, type_: str, event: Column, page_path: Column) -> DataFrame:
        return df.select(
            "source_id", "id", F.lit(type_).alias("type"), event.alias("event"), "user_id", "anonymous_id",
            "timestamp", "received_at", page_path.alias("page_path"),
            optional(df, "context_campaign_name").alias("campaign_name"),
            optional(df, "context_campaign_source").alias("campaign_source"),
        )

    return reduce(DataFrame.unionByName, [
        shape(tracks_df, "track", F.col("event"), optional(tracks_df, "context_page_path")),
        shape(pages_df, "page", F.col("name"), F.coalesce(optional(pages_df, "context_page_path"), optional(pages_df, "path"))),
        shape(screens_df, "screen", F.col("name"), F.lit(None).cast("string")),
    ])


def stitched_identities(identity_map_df: DataFrame) -> DataFrame:
    """One row per (source_id, anonymous_id): the user id it was most recently linked to."""
    return (
        identity_map_df
        .groupBy("source_id", "anonymous_id")
        .agg(F.max_by("user_id", F.struct("last_seen_at", "user_id")).alias("stitched_user_id"))
    )


def with_person(activity_df: DataFrame, identities_df: DataFrame) -> DataFrame:
    """Add ``person_id`` (stitched) and ``session_person`` (the user, or the anonymous id before
    identification: a session does not change hands when a visitor logs in later)."""
    return (
        activity_df
        .join(identities_df, on=["source_id", "anonymous_id"], how="left")
        .withColumn("person_id", F.when(F.col("user_id").isNotNull(), F.concat(F.lit("u:"), "user_id"))
                    .when(F.col("stitched_user_id").isNotNull(), F.concat(F.lit("u:"), "stitched_user_id"))
                    .otherwise(F.concat(F.lit("a:"), "anonymous_id")))
        .withColumn("session_person", F.when(F.col("user_id").isNotNull(), F.concat(F.lit("u:"), "user_id"))
                    .otherwise(F.concat(F.lit("a:"), "anonymous_id")))
    )


def sessions(person_activity_df: DataFrame, gap_seconds: int = SESSION_GAP_SECONDS) -> DataFrame:
    """One row per session: a person's run of events with no gap longer than ``gap_seconds``.

    Per user, or per anonymous id before identification. ``session_id`` is a hash of the tenant,
    the person and the first event's id, so a rebuild gives every session the same id.
    """
    by_person = Window.partitionBy("source_id", "session_person").orderBy("timestamp", "id")
    numbered_df = (
        person_activity_df
        .filter(F.col("timestamp").isNotNull())
        .withColumn("_gap", F.col("timestamp").cast("double") - F.lag(F.col("timestamp").cast("double")).over(by_person))
        .withColumn("_starts", F.when(F.col("_gap").isNull() | (F.col("_gap") > gap_seconds), 1).otherwise(0))
        .withColumn("_session", F.sum("_starts").over(by_person.rowsBetween(Window.unboundedPreceding, 0)))
    )
    order = F.struct("timestamp", "id")
    page = F.when(F.col("type") == "page", F.struct("timestamp", "id", "page_path"))
    campaign = F.when(F.col("campaign_name").isNotNull(), F.struct("timestamp", "id", "campaign_name", "campaign_source"))
    aggregated_df = numbered_df.groupBy("source_id", "session_person", "_session").agg(
        F.min_by("id", order).alias("_first_id"),
        F.max("user_id").alias("user_id"),
        F.min_by("anonymous_id", order).alias("anonymous_id"),
        F.min_by("person_id", order).alias("person_id"),
        F.min("timestamp").alias("started_at"),
        F.max("timestamp").alias("ended_at"),
        F.count(F.lit(1)).alias("events"),
        F.count(page).alias("pages"),
        F.min(page).alias("_entry"),
        F.max(page).alias("_exit"),
        F.min(campaign).alias("_campaign"),
    )
    return aggregated_df.select(
        F.sha2(F.concat_ws("\u0001", "source_id", "session_person", "_first_id"), 256).substr(1, 32).alias("session_id"),
        "source_id", "person_id", "user_id", "anonymous_id", "started_at", "ended_at",
        (F.col("ended_at").cast("double") - F.col("started_at").cast("double")).cast("bigint").alias("duration_s"),
        "events", "pages",
        F.col("_entry.page_path").alias("entry_page"), F.col("_exit.page_path").alias("exit_page"),
        F.col("_campaign.campaign_name").alias("campaign_name"), F.col("_campaign.campaign_source").alias("campaign_source"),
        F.to_date("started_at").alias("session_date"),
    )


def users(person_activity_df: DataFrame, silver_users_df: DataFrame, identity_map_df: DataFrame) -> DataFrame:
    """One row per person (tenant + stitched person id): first and last seen, how many anonymous
    ids they used, and the latest traits of identified users (every silver ``users`` trait column)."""
    seen_df = person_activity_df.groupBy("source_id", "person_id").agg(
        F.min("timestamp").alias("first_seen_at"), F.max("timestamp").alias("last_seen_at"),
        F.count(F.lit(1)).alias("events"))
    anonymous_df = (identity_map_df.groupBy("source_id", F.concat(F.lit("u:"), "user_id").alias("person_id"))
                    .agg(F.count_distinct("anonymous_id").alias("anonymous_ids")))
    traits = [c for c in silver_users_df.columns if c not in ("source_id", "id", "loaded_at", "received_date")]
    profile_df = silver_users_df.select("source_id", F.concat(F.lit("u:"), "id").alias("person_id"), "id",
                                        *[F.col(c).alias(c if c != "updated_at" else "traits_updated_at") for c in traits])
    trait_names = [c if c != "updated_at" else "traits_updated_at" for c in traits]
    return (
        seen_df
        .join(profile_df, on=["source_id", "person_id"], how="full")
        .join(anonymous_df, on=["source_id", "person_id"], how="left")
        .select(
            "source_id", "person_id",
            F.when(F.col("person_id").startswith("u:"), F.expr("substring(person_id, 3)")).alias("user_id"),
            F.col("person_id").startswith("u:").alias("is_identified"),
            "first_seen_at", "last_seen_at", F.coalesce("events", F.lit(0)).alias("events"),
            F.coalesce("anonymous_ids", F.lit(0)).alias("anonymous_ids"),
            *trait_names,
        )
    )


def daily_active_users(person_activity_df: DataFrame) -> DataFrame:
    """One row per (tenant, day of event time): distinct people active, of them identified, events."""
    return (
        person_activity_df
        .filter(F.col("timestamp").isNotNull())
        .groupBy("source_id", F.to_date("timestamp").alias("day"))
        .agg(F.count_distinct("person_id").alias("active_users"),
             F.count_distinct(F.when(F.col("person_id").startswith("u:"), F.col("person_id"))).alias("identified_users"),
             F.count(F.lit(1)).alias("events"))
        .select("source_id", "day", "active_users", "identified_users", "events")
    )


def event_counts_daily(person_activity_df: DataFrame) -> DataFrame:
    """One row per (tenant, day, call type, event or page/screen name): events and distinct people."""
    return (
        person_activity_df
        .filter(F.col("timestamp").isNotNull())
        .groupBy("source_id", F.to_date("timestamp").alias("day"), "type", F.coalesce("event", F.lit("")).alias("event"))
        .agg(F.count(F.lit(1)).alias("events"), F.count_distinct("person_id").alias("distinct_users"))
        .select("source_id", "day", "type", "event", "events", "distinct_users")
    )
