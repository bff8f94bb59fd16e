"""Delta Lake I/O in snake_case: the one place that talks to delta-spark's builders.

Batch jobs and streaming ``foreachBatch`` functions write through the same helpers; each write
can carry a ``(app_id, version)`` transaction id so that replaying a micro-batch after a crash is
a no-op (marks in the commits, see :mod:`lakehouse.deltalog`).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Mapping, NamedTuple, Sequence, TypeVar

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse import deltalog
from lakehouse.sqltext import literal, quote

log = logging.getLogger("lakehouse.delta")
T = TypeVar("T")


def ensure_table(spark: SparkSession, path: str, schema: StructType, partition_by: Sequence[str] = (),
                 properties: Mapping[str, str] | None = None) -> bool:
    """Create an empty Delta table at ``path`` with ``schema`` unless one is already there.

    ``properties`` (``delta.*`` table properties) are set on creation, and on an existing table
    whose values differ, so a table made by an older version gets them too.

    Returns:
        Whether a table was there already (False: it is new and empty, no need to read it).
    """
    existed = is_table(spark, path)
    properties = dict(properties or {})
    if existed and not properties:
        return True  # (createIfNotExists would still load the table's state to find it there)
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    for key, value in properties.items():
        builder = builder.property(key, value)
    builder.execute()
    if properties:
        current = _properties(spark, path, properties)
        stale = {key: value for key, value in properties.items() if current.get(key) != value}
        if stale:
            settings = ", ".join(f"{literal(key)} = {literal(value)}" for key, value in stale.items())
            spark.sql(f"ALTER TABLE delta.{quote(path)} SET TBLPROPERTIES ({settings})")
    return existed


def _properties(spark: SparkSession, path: str, keys: Sequence[str]) -> dict[str, str | None]:
    """The table's values of property ``keys``, from its log's metadata: ``detail()`` would rebuild
    the table's state for its size and file count (two Spark jobs, at every job start)."""
    try:
        configuration = deltalog.snapshot(spark, path).metadata().configuration()
        values = {key: configuration.get(key) for key in keys}  # scala Options
        return {key: value.get() if value.isDefined() else None for key, value in values.items()}
    except Exception:  # noqa: BLE001 - any py4j error: use the public API
        return dict(DeltaTable.forPath(spark, path).detail().first()["properties"])


def stats_columns(*names: str) -> dict[str, str]:
    """Table properties that keep Delta's per-file statistics to ``names``.

    Delta collects min/max/null counts for the first 32 columns of every file it writes; on
    tables holding raw JSON text that costs a fifth of the write (bronze at 500k events:
    7.9 s with default statistics, 6.2 s with the envelope columns only), and min/max of a
    JSON text prune nothing.
    """
    return {"delta.dataSkippingStatsColumns": ",".join(names)}


def append(df: DataFrame, path: str, *, partition_by: Sequence[str] = (),
           txn: tuple[str, int] | None = None, merge_schema: bool = False,
           properties: Mapping[str, str] | None = None) -> bool:
    """Append ``df`` to the Delta table at ``path``.

    Args:
        df: Rows to append; their schema must match the table's.
        path: Table location.
        partition_by: Partition columns (used when the table is created by this write).
        txn: ``(app_id, version)``: skip the write if this app already committed this version or
            a later one, which makes a replayed micro-batch idempotent. Kept in the commit's
            ``userMetadata`` rather than through Delta's own txn check, which costs three Spark
            jobs a write (see :mod:`lakehouse.deltalog`).
        merge_schema: Add the columns of ``df`` that the table lacks (schema evolution).
        properties: ``delta.*`` table properties for a table this write creates (Delta takes
            them from the write's options then; a write to an existing table leaves its own).

    Returns:
        Whether it wrote: False when ``txn`` was committed already (nothing was computed).
    """
    writer = df.write.format("delta").mode("append").options(**(properties or {}))
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if txn is None:
        writer.save(path)
        return True
    spark, (app_id, version) = df.sparkSession, txn
    committed, table = deltalog.committed_version(spark, path, app_id)
    if committed >= version:
        log.info("%s already committed version %d to %s: skipping the write", app_id, version, path)
        return False
    writer = writer.option("userMetadata", deltalog.mark(app_id, version))
    delta_txn = deltalog.needs_delta_txn(table, app_id)
    if delta_txn:
        writer = writer.option("txnAppId", app_id).option("txnVersion", str(version))
    try:
        writer.save(path)
    except BaseException:
        deltalog.forget(table, app_id)  # it may have committed all the same: read the log next time
        raise
    deltalog.note_committed(spark, path, app_id, version, table=table, delta_txn=delta_txn)
    return True


def read_table(spark: SparkSession, path: str, version: int | None = None) -> DataFrame:
    """Read the Delta table at ``path``: its current version, or ``version`` (time travel)."""
    return spark.read.format("delta").load(path) if version is None else read_version(spark, path, version)


def is_table(spark: SparkSession, path: str) -> bool:
    """True when ``path`` holds a Delta table."""
    return DeltaTable.isDeltaTable(spark, path)


def current_version(spark: SparkSession, path: str) -> int:
    """The latest committed version of the Delta table at ``path``."""
    return DeltaTable.forPath(spark, path).history(1).select("version").first()["version"]


def read_version(spark: SparkSession, path: str, version: int) -> DataFrame:
    """The Delta table at ``path`` as of ``version`` (time travel)."""
    return spark.read.format("delta").option("versionAsOf", version).load(path)


def read_version_files(spark: SparkSession, path: str, version: int) -> DataFrame:
    """The Delta table at ``path`` as of ``version``, over that version's files, listed once.

    For a frame several queries scan, and for a small table read once. A :func:`read_version`
    frame asks Delta for the version's files at every query (a Spark job over the snapshot's
    state); this one lists them here, once, with no job at all when the version's checksum file
    lists them or the log can be replayed here (see :func:`_version_files`), and each query reads
    them through Delta's own file
    format (deletion vectors and column mapping still apply). Same rows and columns. Warm, three
    small queries on each of five tables of a 3,000-event lake (2 cores): 5.6-7.3 s over
    read_version frames, 3.5-5.0 s over these.
    Calls Delta's JVM API (``DeltaLog.createDataFrame``, with which Delta's own commands read the
    files they touch), not its Python one, which has no such call: the tests hold it to
    read_version on the pinned delta-spark.
    """
    delta_log = deltalog.delta_log(spark, path)
    snapshot = delta_log.getSnapshotAt(version, getattr(delta_log, "getSnapshotAt$default$2")(),
                                       getattr(delta_log, "getSnapshotAt$default$3")(),
                                       getattr(delta_log, "getSnapshotAt$default$4")())
    return DataFrame(delta_log.createDataFrame(snapshot, _version_files(spark, path, snapshot), False,
                                               getattr(delta_log, "createDataFrame$default$4")()), spark)


def _version_files(spark: SparkSession, path: str, snapshot):
    """A snapshot's files (a Scala ``Seq[AddFile]``), the cheapest way there is:

    1. the list Delta keeps in the version's checksum (``.crc``) file, when it kept one: for tables
       of few files written with ``spark.databricks.delta.allFilesInCrc.enabled`` (its default;
       silver turns it off for its type tables). Delta never reads it back for a scan itself.
    2. the log replayed in this process (:func:`lakehouse.deltalog.replayed_file_actions`: the
       last checkpoint and the commits after it), for a table on a local file system;
    3. else Delta's state reconstruction, a Spark job over the log (``getAllFiles``, without
       record counts, which a scan does not need).

    In a fresh process, the lists of four small gold and silver tables of a 1M-event lake took
    0.56-0.82 s each by state reconstruction (the process's first, 4.0 s) and 1-7 ms from the
    checksum. After a gold build in the same process, the first gate's four silver type tables
    (no list in the checksum) took 0.6-1.8 s each to read that way; with every list given, the
    whole gate took 7.1-7.9 s instead of 8.5-10.4 s.
    """
    checksum = snapshot.checksumOpt()
    listed = checksum.get().allFiles() if checksum.isDefined() else None
    if listed is not None and listed.isDefined():
        return listed.get()
    replayed = deltalog.replayed_file_actions(spark, path, snapshot.version())
    if replayed is not None:
        return replayed
    return snapshot.getAllFiles(False)


def read_changes(spark: SparkSession, path: str, from_version: int, to_version: int) -> DataFrame | None:
    """Change Data Feed rows of versions ``from_version..to_version`` (inclusive), with
    ``_change_type`` and ``_commit_version``; None when the feed does not cover them (not
    enabled then, or cleaned up), so callers fall back to reading the whole table."""
    try:
        changes_df = (spark.read.format("delta").option("readChangeFeed", "true")
                      .option("startingVersion", from_version).option("endingVersion", to_version).load(path))
        changes_df.schema  # resolves now: fails here if the feed is not there for these versions
    except Exception as exc:  # noqa: BLE001 - Delta raises several types for a missing feed
        log.info("%s: no change feed for versions %d-%d (%s)", path, from_version, to_version,
                 str(exc).splitlines()[0][:160])
        return None
    return changes_df


def latest_images(changes_df: DataFrame, keys: Sequence[str], *, deleted: str = "") -> DataFrame:
    """One row per key that exists after the changes: its newest inserted or updated image.

    A key whose newest change is a delete (a quality drop, a GDPR deletion) yields no row, even
    when it was inserted in the same range; with ``deleted`` set, it yields its deleted image
    instead, flagged true in a boolean column of that name (false on the live rows), so a copy
    elsewhere can delete it too. Without ``keys``, every inserted or updated row."""
    live = F.col("_change_type").isin("insert", "update_postimage")
    cdf_columns = ("_change_type", "_commit_version", "_commit_timestamp")
    if not keys:
        return changes_df.filter(live).drop(*cdf_columns)
    # Newest version first; within one version (a rewrite) the live image before the delete.
    newest = Window.partitionBy(*keys).orderBy(F.col("_commit_version").desc(), F.col("_change_type") == "delete")
    ranked_df = (changes_df.filter(live | (F.col("_change_type") == "delete"))
                 .withColumn("_rank", F.row_number().over(newest)).filter(F.col("_rank") == 1))
    if deleted:
        return ranked_df.withColumn(deleted, ~live).drop("_rank", *cdf_columns)
    return ranked_df.filter(live).drop("_rank", *cdf_columns)


def table_id(spark: SparkSession, path: str) -> str:
    """The table's Delta id: it changes when a table is deleted and created again at ``path``."""
    return DeltaTable.forPath(spark, path).detail().first()["id"]


def version_and_id(spark: SparkSession, path: str) -> tuple[int, str]:
    """``(current version, table id)`` of the Delta table at ``path`` in one look at its log.

    Through DeltaLog (5 ms a table once cached) rather than ``history`` + ``detail`` (two
    queries, ~100 ms a table): the export asks this of hundreds of tables. Falls back to the public
    API when the internal one changes shape.
    """
    try:
        snapshot = deltalog.snapshot(spark, path)
        return int(snapshot.version()), str(snapshot.metadata().id())
    except Exception:  # noqa: BLE001 - any py4j error: use the public API
        return current_version(spark, path), table_id(spark, path)


def commit_times(spark: SparkSession, path: str) -> dict[int, int]:
    """``{version: commit file's modification time in ms}`` of the table at ``path``, from one
    listing of its log: the order the file system saw the commits in, across tables too (unlike
    ``history``'s timestamps, which Delta nudges to keep one table's increasing). Versions whose
    commit files were cleaned up are absent."""
    fs, log_path = deltalog.file_system(spark, f"{path.rstrip('/')}/_delta_log")
    if not fs.exists(log_path):
        return {}
    times = {}
    for status in fs.listStatus(log_path):
        name = status.getPath().getName()
        if len(name) == 25 and name.endswith(".json") and name[:20].isdigit():
            times[int(name[:20])] = int(status.getModificationTime())
    return times


def write_time(spark: SparkSession, path: str, version: int) -> int | None:
    """When (commit file time, ms) the newest ``WRITE`` (an append or overwrite, not OPTIMIZE or
    DELETE) at or before ``version`` of the table at ``path`` was committed; None: there is none."""
    current = version_and_id(spark, path)[0]
    # history(n) reads n commit files at once: first only back to ``version``, the rest only if needed.
    for limit in (max(current - version, 0) + 1, None):
        history_df = DeltaTable.forPath(spark, path).history(limit)
        row = (history_df.filter((F.col("version") <= version) & (F.col("operation") == "WRITE"))
               .agg(F.max("version").alias("v")).first())
        if row["v"] is not None:
            return commit_times(spark, path).get(int(row["v"]))
    return None


def version_before(spark: SparkSession, path: str, at_ms: int) -> int | None:
    """The newest version of the table at ``path`` whose commit file was written strictly before
    ``at_ms`` (see :func:`commit_times`); None: it did not exist yet, or that part of its log was
    cleaned up."""
    before = [version for version, ms in commit_times(spark, path).items() if ms < at_ms]
    return max(before, default=None)


def overwrite(df: DataFrame, path: str, *, partition_by: Sequence[str] = ()) -> int:
    """Replace the table's content (and schema) with ``df`` in one commit; return the rows written
    (from the commit's metrics, not a second read)."""
    writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(path)
    return int(_last_commit(df.sparkSession, path)["operationMetrics"].get("numOutputRows", 0))


def _last_commit(spark: SparkSession, path: str):
    """The newest commit's history row (version, operation, operationMetrics, ...)."""
    return DeltaTable.forPath(spark, path).history(1).first()


def run_parallel(writes: Sequence[Callable[[], None]], parallelism: int) -> None:
    """Run independent writes (to different tables) on ``parallelism`` threads.

    Each Delta commit spends most of its time in the driver (log, commit file, checkpoint), so
    overlapping commits to different tables hides that latency; Spark schedules the threads'
    jobs side by side. The first failure is raised after every write has finished or failed.
    """
    map_parallel(writes, parallelism)


def map_parallel(calls: Sequence[Callable[[], T]], parallelism: int) -> list[T]:
    """Call each of ``calls`` on up to ``parallelism`` threads; their results in order.

    For work that waits on the driver more than it computes (small Spark jobs, Delta log reads,
    Python between them): Spark runs the threads' jobs side by side. The first failure is raised
    after every call has finished or failed.
    """
    if parallelism <= 1 or len(calls) <= 1:
        return [call() for call in calls]
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="lakehouse") as pool:
        futures = [pool.submit(call) for call in calls]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


def remove_tree(spark: SparkSession, path: str) -> bool:
    """Delete ``path`` and everything under it on whatever file system it is (local, s3a://).

    For rebuilds (``--full-refresh``): the tables under it stop existing, no history is kept.
    Returns whether anything was there.
    """
    fs, hadoop_path = deltalog.file_system(spark, path)
    return bool(fs.delete(hadoop_path, True))


class Deleted(NamedTuple):
    rows: int
    version: int  # the DELETE's commit; the version before it when nothing was deleted


def delete_where(spark: SparkSession, path: str, condition: str) -> Deleted:
    """Delete the rows matching the SQL ``condition``; return how many, and the version that did.

    The version is the first DELETE in the history after the version before this one, not the
    newest commit: another writer (the silver stream) may have appended since.
    """
    before = version_and_id(spark, path)[0]
    DeltaTable.forPath(spark, path).delete(condition)
    commit = (DeltaTable.forPath(spark, path).history(20)
              .filter((F.col("version") > before) & (F.col("operation") == "DELETE")).orderBy("version").first())
    if commit is None:
        return Deleted(0, before)
    return Deleted(int((commit["operationMetrics"] or {}).get("numDeletedRows", 0)), int(commit["version"]))


def child_tables(spark: SparkSession, path: str) -> list[str]:
    """Names of the folders directly under ``path`` that hold a Delta table (any file system)."""
    fs, root = deltalog.file_system(spark, path)
    if not fs.exists(root):
        return []
    log_path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path
    return sorted(status.getPath().getName() for status in fs.listStatus(root)
                  if status.isDirectory() and fs.exists(log_path(status.getPath(), "_delta_log")))


def ensure_columns(spark: SparkSession, path: str, columns: Sequence[tuple[str, str]],
                   partition_by: Sequence[str] = ()) -> None:
    """Create the table with ``columns`` (``(name, SQL type)``) or add the ones it lacks.

    For tables written by MERGE, where new columns are added explicitly (a MERGE with explicit
    assignments does not add them by itself). Names are quoted, never pasted.
    """
    if not is_table(spark, path):
        builder = DeltaTable.createIfNotExists(spark).location(path)
        for name, type_ in columns:
            builder = builder.addColumn(name, type_)
        if partition_by:
            builder = builder.partitionedBy(*partition_by)
        builder.execute()
        return
    existing = set(read_table(spark, path).columns)
    missing = [(n, t) for n, t in columns if n not in existing]
    if missing:
        added = ", ".join(f"{quote(n)} {t}" for n, t in missing)
        spark.sql(f"ALTER TABLE delta.{quote(path)} ADD COLUMNS ({added})")


def merge(df: DataFrame, path: str, condition: str, update: dict[str, str], insert: dict[str, str]) -> None:
    """``MERGE INTO <path> t USING df s ON condition``: update matched rows, insert the others.

    ``update`` and ``insert`` map target columns (quoted) to SQL over ``t`` and ``s``.
    """
    (DeltaTable.forPath(df.sparkSession, path).alias("t")
     .merge(df.alias("s"), condition)
     .whenMatchedUpdate(set=update)
     .whenNotMatchedInsert(values=insert)
     .execute())


def register(spark: SparkSession, schema: str, name: str, path: str) -> None:
    """Register the Delta table at ``path`` as ``<schema>.<name>`` (external) unless it is there.

    No-op when ``schema`` is empty. The table stays where it is; the catalog entry only points
    at it, so path readers and catalog readers see the same table.
    """
    if not schema:
        return
    qualified = ".".join(quote(part) for part in schema.split("."))
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {qualified}")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {qualified}.{quote(name)} USING DELTA LOCATION {literal(path)}")
