"""What the demo prints at the end: where things are and what landed in each table."""

from __future__ import annotations

import shlex
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse import delta
from lakehouse.config import Config
from lakehouse.tables import Lake, join, local_path
from lakehouse.warehouse import WarehouseURL


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


def print_summary(spark: SparkSession, config: Config) -> None:
    """Everything the demo built and where it is: bronze by type and reason, silver and gold
    tables, the quality report, the warehouse and the command that opens the notebooks."""
    lake = Lake(config.lake.dir)
    print_bronze_summary(spark, config)
    silver = delta.child_tables(spark, join(lake.root, "silver"))
    event_tables = [t for t in silver if not t.startswith("_")]
    print(f"silver             {len(event_tables):>10,} tables (tracks {_rows(spark, lake.silver('tracks')):,} rows, "
          f"pages {_rows(spark, lake.silver('pages')):,}, users {_rows(spark, lake.silver('users')):,})")
    gold = delta.child_tables(spark, join(lake.root, "gold"))
    print("gold               " + ", ".join(f"{t} {_rows(spark, lake.gold(t)):,}" for t in gold))
    print(f"quality report:    {join(lake.reports(config.quality.reports_dir), 'quality.html')}")
    url = WarehouseURL.parse(config.warehouse.url)
    print(f"warehouse:         {url.redacted()} (schema {config.warehouse.schema})")
    print(f"notebooks:         {notebooks_command(config)}")


def notebooks_command(config: Config) -> str:
    """The shell command that opens the notebooks on this lake and warehouse."""
    lake_dir = config.lake.dir
    if "://" not in lake_dir:
        lake_dir = str(Path(local_path(lake_dir, "lake.dir")).resolve())
    url = WarehouseURL.parse(config.warehouse.url)
    if url.dialect == "duckdb":
        url_text = f"duckdb:///{Path(url.path).resolve()}"
    else:
        url_text = url.redacted()
    return f"LAKEHOUSE_LAKE_DIR={shlex.quote(lake_dir)} LAKEHOUSE_WAREHOUSE_URL={shlex.quote(url_text)} scripts/notebooks.sh"


def _rows(spark: SparkSession, path: str) -> int:
    return delta.read_table(spark, path).count() if delta.is_table(spark, path) else 0
