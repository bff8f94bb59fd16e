"""What the demo prints at the end: where things are and what landed in each table."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse import delta
from lakehouse.config import Config
from lakehouse.tables import Lake, join


def print_bronze_summary(spark: SparkSession, config: Config) -> None:
    """Print row counts of bronze events (by type) and quarantine (by reason)."""
    lake = Lake(config.lake.dir)
    events_df = delta.read_table(spark, lake.bronze_events)
    quarantine_df = delta.read_table(spark, lake.bronze_quarantine)
    by_type = {r["type"]: r["n"] for r in events_df.groupBy("type").agg(F.count(F.lit(1)).alias("n")).collect()}
    by_reason = {r["reason"]: r["n"] for r in quarantine_df.groupBy("reason").agg(F.count(F.lit(1)).alias("n")).collect()}
    print()
    print(f"lake:              {join(lake.root)}")
    print(f"landing:           {join(config.landing.dir)}")
    print(f"bronze.events      {sum(by_type.values()):>10,} rows  "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(by_type.items())))
    print(f"bronze.quarantine  {sum(by_reason.values()):>10,} rows  "
          + ", ".join(f"{k} {v:,}" for k, v in sorted(by_reason.items())))
