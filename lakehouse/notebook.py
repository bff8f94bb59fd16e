"""What the analyst notebooks share: the lake's tables as Spark SQL views, and the warehouse.

    from lakehouse.notebook import open_lake
    lake = open_lake()
    lake.sql("SELECT event, count(*) AS n FROM silver_tracks GROUP BY event").show()
    lake.warehouse_sql("SELECT count(*) AS sessions FROM analytics.sessions")  # pandas

Configured like the command line (``LAKEHOUSE_CONFIG``, ``LAKEHOUSE_*``); ``scripts/notebooks.sh``
points it at the demo's lake and warehouse. Views are named ``<layer>_<table>``
(``silver_tracks``, ``gold_sessions``, ``quality_history``, ``metrics_bronze_ingest``); silver's
per-event tables are read with :meth:`LakeSession.table` instead (there can be hundreds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse import delta
from lakehouse.config import Config, load_config
from lakehouse.maintenance import lake_tables
from lakehouse.spark import build_session
from lakehouse.tables import Lake, join
from lakehouse.warehouse import WarehouseURL, open_warehouse
from lakehouse.warehouse import sql as q


@dataclass
class LakeSession:
    """A Spark session on one lake, with its tables registered as temporary views."""

    spark: SparkSession
    config: Config
    lake: Lake
    views: dict[str, str] = field(default_factory=dict)  # view name -> table path

    def sql(self, text: str) -> DataFrame:
        """Spark SQL over the views."""
        return self.spark.sql(text)

    def tables(self, layer: str) -> list[str]:
        """The Delta tables of ``layer`` (``silver`` includes every per-event table)."""
        return delta.child_tables(self.spark, join(self.lake.root, layer))

    def table(self, layer: str, name: str) -> DataFrame:
        """One table of the lake by layer and name, e.g. ``table("silver", "order_completed")``."""
        return delta.read_table(self.spark, join(self.lake.root, layer, name))

    def warehouse_sql(self, text: str, params: list | None = None):
        """Run a read-only statement in the configured warehouse; a pandas DataFrame. ``params``
        fill its placeholders (``?`` in DuckDB, ``%s`` in PostgreSQL and Redshift)."""
        settings = self.config.warehouse
        with open_warehouse(settings.url, password_env=settings.password_env,
                            s3_endpoint_url=settings.s3_endpoint_url, read_only=True) as warehouse:
            return warehouse.query_frame(text, params)

    def warehouse_table(self, name: str) -> str:
        """``name`` in the export's schema, quoted for the warehouse's SQL (for f-strings)."""
        dialect = WarehouseURL.parse(self.config.warehouse.url).dialect
        return q.table(q.Target(self.config.warehouse.schema, name)).sql(dialect=dialect)


def open_lake(config_file: str | None = None) -> LakeSession:
    """Start (or reuse) the Spark session and register the lake's tables as views (all but silver's
    per-event tables, read with :meth:`LakeSession.table`)."""
    config = load_config(config_file)
    spark = build_session(config.spark)
    session = LakeSession(spark, config, Lake(config.lake.dir))
    per_event = {f"silver/{name}" for name in per_event_tables(spark, session.lake)}
    for table, path in lake_tables(spark, session.lake.root):
        if table in per_event:
            continue
        layer, name = table.split("/", 1)
        view = f"{layer}_{name.lstrip('_')}"
        delta.read_table(spark, path).createOrReplaceTempView(view)
        session.views[view] = path
    return session


def per_event_tables(spark: SparkSession, lake: Lake) -> set[str]:
    """Silver's one-table-per-event tables, from its column map (``kind = 'event'``)."""
    path = lake.silver("_column_map")
    if not delta.is_table(spark, path):
        return set()
    rows = delta.read_table(spark, path).filter(F.col("kind") == "event").select("table").distinct().collect()
    return {row["table"] for row in rows}
