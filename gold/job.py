"""``lakehouse gold``: rebuild the gold models from the silver tables.

Each model is rebuilt as a whole and replaces its table in one Delta commit (readers see the old
or the new version, never a mix). Gold reads silver's *tables*, never its code.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from gold import models
from lakehouse import delta
from lakehouse.config import Config
from lakehouse.spark import local_frame
from lakehouse.tables import Lake

log = logging.getLogger("lakehouse.gold")

MODELS = ("sessions", "users", "daily_active_users", "event_counts_daily")
PARTITIONS = {"sessions": ("session_date",)}

# What a model needs of a silver table that does not exist yet (a new lake).
_EVENT_COLUMNS = [("source_id", StringType()), ("id", StringType()), ("user_id", StringType()),
                  ("anonymous_id", StringType()), ("timestamp", TimestampType()), ("received_at", TimestampType())]
_EMPTY = {
    "tracks": _EVENT_COLUMNS + [("event", StringType())],
    "pages": _EVENT_COLUMNS + [("name", StringType())],
    "screens": _EVENT_COLUMNS + [("name", StringType())],
    "users": [("source_id", StringType()), ("id", StringType()), ("updated_at", TimestampType())],
    "identity_map": [("source_id", StringType()), ("anonymous_id", StringType()), ("user_id", StringType()),
                     ("last_seen_at", TimestampType())],
}


@dataclass(frozen=True)
class GoldResult:
    table: str
    rows: int
    seconds: float


def read_silver(spark: SparkSession, lake: Lake, name: str) -> DataFrame:
    path = lake.silver(name)
    if delta.is_table(spark, path):
        return delta.read_table(spark, path)
    return local_frame(spark, [], StructType([StructField(c, t) for c, t in _EMPTY[name]]))


def build_models(spark: SparkSession, config: Config, person_df: DataFrame | None = None) -> dict[str, DataFrame]:
    """The gold models as DataFrames over the current silver tables (nothing written).

    ``person_df`` (from :func:`person_activity`) may be passed in cached, since every model reads it.
    """
    lake = Lake(config.lake.dir)
    silver = {name: read_silver(spark, lake, name) for name in ("users", "identity_map")}
    person_df = person_activity(spark, config) if person_df is None else person_df
    return {
        "sessions": models.sessions(person_df, config.gold.session_gap_minutes * 60),
        "users": models.users(person_df, silver["users"], silver["identity_map"]),
        "daily_active_users": models.daily_active_users(person_df),
        "event_counts_daily": models.event_counts_daily(person_df),
    }


def person_activity(spark: SparkSession, config: Config) -> DataFrame:
    """Every track, page and screen call with its stitched ``person_id`` (see gold.models)."""
    lake = Lake(config.lake.dir)
    activity_df = models.activity(*[read_silver(spark, lake, name) for name in ("tracks", "pages", "screens")])
    return models.with_person(activity_df, models.stitched_identities(read_silver(spark, lake, "identity_map")))


def run_gold(spark: SparkSession, config: Config, only: tuple[str, ...] = ()) -> list[GoldResult]:
    """Rebuild the gold tables (all, or ``only`` these) under ``<lake>/gold/``."""
    lake = Lake(config.lake.dir)
    person_df = person_activity(spark, config).cache()
    frames = build_models(spark, config, person_df)
    results = []
    for name in MODELS:
        if only and name not in only:
            continue
        started = time.monotonic()
        rows = delta.overwrite(frames[name], lake.gold(name), partition_by=PARTITIONS.get(name, ()))
        delta.register(spark, config.lake.catalog, f"gold_{name}", lake.gold(name))
        results.append(GoldResult(name, rows, time.monotonic() - started))
        log.info("gold.%s: %d rows in %.1fs", name, rows, results[-1].seconds)
    person_df.unpersist()
    return results
