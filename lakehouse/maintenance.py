"""``lakehouse maintain``: compact recent partitions (OPTIMIZE) and remove unreferenced files
(VACUUM) of every Delta table in the lake.

Streaming writers leave many small files (a micro-batch every 10 s); OPTIMIZE rewrites the recent
``received_date`` partitions (all of an unpartitioned table) into large files. VACUUM deletes
files no version within the retention still needs. The retention must outlast how far behind
any reader may be: a stream that restarts after an outage reads the versions it has not
processed, so the default is Delta's 7 days and a shorter one is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lakehouse import delta
from lakehouse.tables import join
from lakehouse.sqltext import literal

log = logging.getLogger("lakehouse.maintain")

LAYERS = ("bronze", "silver", "gold", "quality", "metrics")
PARTITION_COLUMN = "received_date"


@dataclass(frozen=True)
class Maintained:
    table: str  # <layer>/<name>
    files_removed: int  # by OPTIMIZE (small files replaced)
    files_added: int
    vacuumed: bool


def lake_tables(spark: SparkSession, lake_root: str) -> list[tuple[str, str]]:
    """``(layer/name, path)`` of every Delta table directly under the layer folders."""
    found = []
    for layer in LAYERS:
        for name in delta.child_tables(spark, join(lake_root, layer)):
            found.append((f"{layer}/{name}", join(lake_root, layer, name)))
    return found


def maintain(spark: SparkSession, lake_root: str, *, recent_days: int, retention_hours: int,
             today: date | None = None, vacuum: bool = True) -> list[Maintained]:
    """OPTIMIZE the last ``recent_days`` partitions of each table, then VACUUM it."""
    since = (today or date.today()) - timedelta(days=recent_days)
    results = []
    for table, path in lake_tables(spark, lake_root):
        table_handle = DeltaTable.forPath(spark, path)
        builder = table_handle.optimize()
        if PARTITION_COLUMN in table_handle.detail().first()["partitionColumns"]:
            builder = builder.where(f"{PARTITION_COLUMN} >= {literal(since.isoformat())}")
        metrics = builder.executeCompaction().first()["metrics"]
        if vacuum:
            table_handle.vacuum(retention_hours)
        results.append(Maintained(table, int(metrics["numFilesRemoved"]), int(metrics["numFilesAdded"]), vacuum))
        log.info("%s: %d small files compacted into %d", table, results[-1].files_removed, results[-1].files_added)
    return results
