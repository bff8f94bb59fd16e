"""Locations and schemas of silver's bookkeeping tables (the data tables' schemas are in layout)."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import (DateType, DoubleType, IntegerType, LongType, StringType, StructField, StructType,
                               TimestampType)

from lakehouse.config import Config
from lakehouse.tables import Lake


def _schema(*fields: tuple[str, object]) -> StructType:
    return StructType([StructField(name, type_) for name, type_ in fields])


# One row per (table, section, path): the JSON path -> column mapping analysts trace names with.
COLUMN_MAP_SCHEMA = _schema(
    ("table", StringType()), ("kind", StringType()), ("ordinal", IntegerType()), ("section", StringType()),
    ("path", StringType()), ("json_path", StringType()), ("column", StringType()), ("type", StringType()),
    ("first_batch_id", LongType()),
)
# One row per value that could not be kept in its column (it is in the row's _rescued column).
DISCARDS_SCHEMA = _schema(
    ("table", StringType()), ("row_id", StringType()), ("column", StringType()), ("value", StringType()),
    ("reason", StringType()), ("source_id", StringType()), ("received_at", TimestampType()),
    ("silver_batch_id", LongType()), ("received_date", DateType()),
)
# One row per message silver has written: the dedup look-up.
INDEX_SCHEMA = _schema(
    ("source_id", StringType()), ("message_id", StringType()), ("received_date", DateType()),
    ("silver_batch_id", LongType()), ("loaded_at", TimestampType()),
)
# One row per batch started: a restarted batch finds its first attempt's load time here.
JOURNAL_SCHEMA = _schema(("app_id", StringType()), ("batch_id", LongType()), ("loaded_at", TimestampType()))
# One row per (tenant, anonymous id, user id) seen together in an identify or alias call.
IDENTITY_MAP_SCHEMA = _schema(
    ("source_id", StringType()), ("anonymous_id", StringType()), ("user_id", StringType()),
    ("first_seen_at", TimestampType()), ("last_seen_at", TimestampType()), ("via", StringType()),
)
METRICS_SCHEMA = _schema(
    ("batch_id", LongType()), ("started_at", TimestampType()), ("duration_s", DoubleType()),
    ("rows_in", LongType()), ("duplicates_in_batch", LongType()), ("duplicates_seen_before", LongType()),
    ("rows_out", LongType()), ("tables_written", LongType()), ("new_columns", LongType()),
)


@dataclass(frozen=True)
class SilverPaths:
    lake: Lake
    checkpoint: str

    @classmethod
    def from_config(cls, config: Config) -> "SilverPaths":
        lake = Lake(config.lake.dir)
        return cls(lake, config.silver.checkpoint_dir or lake.checkpoint("silver"))

    def table(self, name: str) -> str:
        return self.lake.silver(name)

    @property
    def column_map(self) -> str:
        return self.lake.silver("_column_map")

    @property
    def index(self) -> str:
        return self.lake.silver("_message_ids")

    @property
    def discards(self) -> str:
        return self.lake.silver("discards")

    @property
    def journal(self) -> str:
        return self.lake.silver("_batches")

    @property
    def metrics(self) -> str:
        return self.lake.metrics("silver")
