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
from lakehouse.spark import confs_set
from lakehouse.tables import join
from lakehouse.sqltext import literal

log = logging.getLogger("lakehouse.maintain")

LAYERS = ("bronze", "silver", "gold", "quality", "metrics")
PARTITION_COLUMN = "received_date"
# VACUUM lists and deletes a table's files in stages of this many tasks; Spark's default is 10,000
# whatever the table's size. A 12-row table of 5 files took 34-43 s of 2 cores to vacuum that way
# (about 100,000 tasks in 21 jobs) and 3.9-7.0 s with 8 (214 tasks). Unless the session sets it,
# maintain uses 4 tasks per core of the cluster.
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


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
    with confs_set(spark, vacuum_confs(spark)):
        for table, path in lake_tables(spark, lake_root):
            results.append(_maintain_table(spark, table, path, since, retention_hours, vacuum))
    return results


def vacuum_confs(spark: SparkSession) -> dict[str, str]:
    """The listing parallelism VACUUM runs with (see :data:`LISTING_PARALLELISM`)."""
    if spark.conf.get(LISTING_PARALLELISM, None) is not None:
        return {}
    return {LISTING_PARALLELISM: str(4 * spark.sparkContext.defaultParallelism)}


def _maintain_table(spark: SparkSession, table: str, path: str, since: date, retention_hours: int,
                    vacuum: bool) -> Maintained:
    table_handle = DeltaTable.forPath(spark, path)
    builder = table_handle.optimize()
    if PARTITION_COLUMN in table_handle.detail().first()["partitionColumns"]:
        builder = builder.where(f"{PARTITION_COLUMN} >= {literal(since.isoformat())}")
    metrics = builder.executeCompaction().first()["metrics"]
    if vacuum:
        table_handle.vacuum(retention_hours)
    result = Maintained(table, int(metrics["numFilesRemoved"]), int(metrics["numFilesAdded"]), vacuum)
    log.info("%s: %d small files compacted into %d", table, result.files_removed, result.files_added)
    return result
