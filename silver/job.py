"""The silver job: ``bronze.events`` (a Delta stream) -> the Segment-compatible silver tables.

Each micro-batch (``foreachBatch``):

1. drops duplicates: one row per (source_id, message_id) in the batch, then an anti-join with
   the message-id index (``silver/_message_ids``) over the look-back window of received dates;
2. parses the survivors once (VARIANT) and caches them;
3. discovers the paths and kinds per (type, event) and names and types the new ones (column map);
4. writes every table the batch touches, several commits at once (``silver.write_parallelism``),
   each with ``mergeSchema`` (a new path is a new column, no restart) and the transaction id
   ``(silver-<query id>, batch id)``, then the discards, the index and the metrics row.

A kill anywhere replays the batch: the same bronze rows, the same index (it is written last), the
same column map (written first, and names are decided by it), so every table write that already
committed is skipped by its transaction id and the others write the same rows.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from lakehouse import delta
from lakehouse.config import Config
from lakehouse.spark import confs_set, local_frame
from lakehouse.streaming import checkpoint_app_id, start_foreach_batch
from lakehouse.tables import Lake
from silver import discover, users
from silver.flatten import BATCH_SCHEMA, batch_row, explode_discards, filter_duplicates, select_table, with_event, with_parsed
from silver.layout import CONTEXT, RESCUED, TableLayout, layouts_from_rows, plan_columns
from silver.tables import (COLUMN_MAP_SCHEMA, DISCARDS_SCHEMA, IDENTITY_MAP_SCHEMA, INDEX_SCHEMA, JOURNAL_SCHEMA,
                           METRICS_SCHEMA, SilverPaths)

log = logging.getLogger("lakehouse.silver")
QUERY_NAME = "silver"
_INSPECT_SLICE = 250  # paths per inspection aggregation
_CACHE_BLOCK_CONF = "spark.sql.inMemoryColumnarStorage.batchSize"
# The per-event table writes run interpreted, not as generated code. Every table's projection
# differs (its own columns), so Spark generated and compiled new Java code for each of the hundreds
# of tables a batch touches, to run it over a few thousand rows: a profile put code generation and
# Janino at 46.6% of executor samples. At 200k events (206 tables, one batch, every table
# interpreted then): tables 111.7-113.2 s with generated code, 76.4-79.6 s interpreted. The factory
# mode is what counts (whole-stage code generation off alone: 111.0 s). The parse before the tables
# keeps generated code: its plan is one and its rows many (interpreted there too, parse and plan
# took 32.3 s instead of 25.6 s). ``factoryMode`` is an internal Spark conf: if a later Spark
# ignores it, the writes compile again (slower, same rows).
INTERPRETED = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}
# The type tables (tracks, pages, screens, identifies, groups, aliases) are few and hold most of a
# batch's rows: they keep generated code, compiled once each and faster per row. At 1M events (one
# batch, 206 tables): type tables 35.0 s compiled against 61.1 s interpreted; per-event tables
# 112.4 s against 118.0 s (one run each, same day).
# Their commits keep no list of the table's files in the checksum (.crc) file: deriving it was 85%
# of each commit's driver time. Same 200k events, every table without the list then: tables
# 59.6-61.4 s without it, 67.0-72.0 s with it (3 runs each).
# The per-event tables keep the list (Delta's default, below 50 files): a reader that takes it
# from there (lakehouse.delta.read_version_files) needs no Spark job to find a table's files, and
# those tables are many and small. The 3,000-event demo (one process, 170 per-event tables), with
# the list kept by every table against by none: export 36.2 s against 126.4 s, silver 104.6 s
# against 95.7 s; the same lakes exported again in a fresh process: 56.9 s against 155.1 s. At
# 200k events (one batch, 206 new tables), with the per-event tables' lists against without:
# per-event tables 111.2 s against 96.1 s (one run each, same hour); in two batches, 98.8 s
# against 108.1 s (new tables) and 63.3 s against 62.9 s (existing tables): within the noise.
TYPE_TABLE_CONFS = {"spark.databricks.delta.allFilesInCrc.enabled": "false"}
EVENT_TABLE_CONFS = dict(INTERPRETED)
PARTITION_BY = ("received_date",)


def ensure_tables(spark: SparkSession, paths: SilverPaths, catalog: str = "") -> None:
    """Create the bookkeeping tables (empty) so that readers and the first batch find them, and
    register them in ``catalog`` when one is configured."""
    tables = [("_column_map", paths.column_map, COLUMN_MAP_SCHEMA, ()),
              ("_message_ids", paths.index, INDEX_SCHEMA, PARTITION_BY),
              ("discards", paths.discards, DISCARDS_SCHEMA, PARTITION_BY),
              ("_batches", paths.journal, JOURNAL_SCHEMA, ()),
              ("identity_map", paths.table("identity_map"), IDENTITY_MAP_SCHEMA, ())]
    for name, path, schema, partition_by in tables:
        delta.ensure_table(spark, path, schema, partition_by)
        delta.register(spark, catalog, "silver_" + name.lstrip("_"), path)
    delta.ensure_table(spark, paths.metrics, METRICS_SCHEMA)
    delta.register(spark, catalog, "metrics_silver", paths.metrics)


# File statistics of the data tables, set when a table is created. Their files hold what arrived
# together, so only times and batch ids follow the files; by default Delta would also keep min/max
# of the first 32 columns (ids, context, properties), which prune nothing and cost a share of every
# table's write.
DATA_TABLE_PROPERTIES = delta.stats_columns("timestamp", "received_at", "loaded_at", "silver_batch_id")


@dataclass
class _Plan:
    """What one batch writes: per table, its layout and the rows' filter."""

    tables: dict[str, tuple[TableLayout, object]]  # table -> (layout, filter Column)
    rows: dict[str, int]  # table -> rows in this batch
    event_tables: dict[str, str]  # event text -> table
    new_columns: list


class SilverWriter:
    """The ``foreachBatch`` function of the silver stream (see the module docstring)."""

    def __init__(self, config: Config, paths: SilverPaths, on_batch: Callable[[dict], None] | None = None):
        self.silver = config.silver
        self.catalog = config.lake.catalog
        self.paths = paths
        self.on_batch = on_batch
        self._app_id: str | None = None
        self.layouts: dict[str, TableLayout] | None = None
        self.context_types: dict[tuple[str, ...], str] = {}

    def app_id(self, spark: SparkSession) -> str:
        if self._app_id is None:
            self._app_id = checkpoint_app_id(spark, self.paths.checkpoint, "silver")
        return self._app_id

    def _load_layouts(self, spark: SparkSession) -> None:
        rows = [r.asDict() for r in delta.read_table(spark, self.paths.column_map).collect()]
        self.layouts = layouts_from_rows(rows, {})
        self.context_types = {c.path: c.type for layout in self.layouts.values()
                              for c in layout.columns if c.section == CONTEXT}

    def __call__(self, bronze_df: DataFrame, batch_id: int) -> None:
        begun = time.monotonic()
        spark = bronze_df.sparkSession
        if self.layouts is None:
            self._load_layouts(spark)
        txn = (self.app_id(spark), batch_id)
        # One action gives the look-back bounds and the batch's row count.
        bounds = bronze_df.agg(F.min("received_date").alias("low"), F.max("received_date").alias("high"),
                               F.count(F.lit(1)).alias("rows")).first()
        if bounds["low"] is None:
            return
        started, replay = self._begin(spark, txn)
        this_batch = (F.col("silver_batch_id") == batch_id) & (F.col("loaded_at") == F.lit(started))
        # A replay must not drop its own first attempt's rows. An anti-join, not ~this_batch: a
        # filter would write the batch's id into the scan's generated code (see with_constants).
        first_attempt_df = local_frame(spark, [batch_row(started, batch_id)], BATCH_SCHEMA)
        seen_df = (delta.read_table(spark, self.paths.index)
                   .filter(F.col("received_date").between(
                       bounds["low"] - timedelta(days=self.silver.dedup_lookback_days), bounds["high"]))
                   .join(F.broadcast(first_attempt_df), on=["loaded_at", "silver_batch_id"], how="left_anti")
                   .select("source_id", "message_id"))
        unique = Observation(f"silver_unique_{batch_id}")
        new_df = (
            bronze_df
            .transform(filter_duplicates)
            .observe(unique, F.count(F.lit(1)).alias("rows"))
            .join(seen_df, on=["source_id", "message_id"], how="left_anti")
        )
        # Each table's write reads the cache with its event filter. Sorted by (type, event) and
        # cached in blocks of 1,000 rows, the blocks' min/max let that read skip other events:
        # 16 event tables of a 400k-event batch took 9.4 s instead of 12.8 s (noop sink).
        parsed_df = with_parsed(new_df, started, batch_id).sortWithinPartitions("type", "event_text")
        parsed_df = parsed_df.persist()
        try:
            with confs_set(spark, {_CACHE_BLOCK_CONF: "1000"}):  # read when the cache is built, by count()
                new_rows = parsed_df.count()
            rows_in, unique_rows = bounds["rows"], unique.get["rows"]
            plan = self._plan(parsed_df, batch_id)
            if plan.new_columns:
                column_rows = [c.as_row(self.layouts[c.table].kind, self.layouts[c.table].columns.index(c), batch_id)
                               for c in plan.new_columns]
                delta.append(local_frame(spark, column_rows, COLUMN_MAP_SCHEMA), self.paths.column_map, txn=txn)
            parsed_done = time.monotonic()
            rows_df = with_event(parsed_df, plan.event_tables)
            frames: dict[str, DataFrame] = {}
            with_discards: list[str] = []
            seconds: dict[str, float] = {}

            def write(table: str) -> None:
                # Built here, on the writer thread: planning a wide table takes ~0.2 s of driver
                # time, and 200 of them in a row would hold every write back.
                t0 = time.monotonic()
                layout, condition = plan.tables[table]
                rescued = Observation(f"silver_rescued_{batch_id}_{table}")
                frame = select_table(rows_df.filter(F.expr(condition)), layout)
                frames[table] = frame
                path = self.paths.table(table)
                if replay and delta.is_table(spark, path) and delta.read_table(spark, path).filter(this_batch).limit(1).count():
                    with_discards.append(table)  # written by the first attempt; look for its discards again
                    return
                delta.append(frame.observe(rescued, F.count(RESCUED).alias("rows")).coalesce(_files_for(plan.rows[table])),
                             path, partition_by=PARTITION_BY, merge_schema=True, properties=DATA_TABLE_PROPERTIES)
                # Counted during the write: a second pass to look for rescued values cost as much
                # as the write itself (each table's plan is compiled anew).
                if rescued.get["rows"]:
                    with_discards.append(table)
                seconds[table] = time.monotonic() - t0

            # Only with a catalog: 200 existence checks a batch are not free.
            new_tables = [t for t in plan.tables if not delta.is_table(spark, self.paths.table(t))] if self.catalog else []
            # The per-event tables first, then tracks with the other type tables: the export takes
            # a per-event table's versions committed before the tracks version the gate judged.
            by_size = sorted(plan.tables, key=plan.rows.get, reverse=True)
            event_tables = set(plan.event_tables.values())
            group_seconds = []
            for group, confs in (([t for t in by_size if t in event_tables], EVENT_TABLE_CONFS),
                                 ([t for t in by_size if t not in event_tables], TYPE_TABLE_CONFS)):
                group_started = time.monotonic()
                with confs_set(spark, confs):
                    delta.run_parallel([functools.partial(write, table) for table in group], self.silver.write_parallelism)
                group_seconds.append(time.monotonic() - group_started)
            log.info("silver batch %d: per-event tables %.1fs, type tables %.1fs", batch_id, *group_seconds)
            tables_done = time.monotonic()
            for table in new_tables:
                delta.register(spark, self.catalog, f"silver_{table}", self.paths.table(table))
            log.debug("silver batch %d: table writes took %.1fs in all; slowest: %s", batch_id,
                      sum(seconds.values()), sorted(seconds.items(), key=lambda kv: -kv[1])[:3])
            if with_discards:
                discards_df = functools.reduce(DataFrame.unionByName, [
                    explode_discards(frames[t], t, {c.column: c.type for c in plan.tables[t][0].columns})
                    for t in sorted(with_discards)])
                delta.append(discards_df, self.paths.discards, partition_by=PARTITION_BY, txn=txn)
            discards_done = time.monotonic()
            self._merge_people(spark, parsed_df, rows_df, plan)
            index_df = parsed_df.select("source_id", F.col("id").alias("message_id"), "received_date",
                                        "silver_batch_id", "loaded_at")
            delta.append(index_df, self.paths.index, partition_by=PARTITION_BY, txn=txn)
        finally:
            parsed_df.unpersist()
        row = {
            "batch_id": batch_id, "started_at": started, "duration_s": time.monotonic() - begun,
            "rows_in": rows_in, "duplicates_in_batch": rows_in - unique_rows,
            "duplicates_seen_before": unique_rows - new_rows, "rows_out": new_rows,
            "tables_written": len(plan.tables), "new_columns": len(plan.new_columns),
        }
        delta.append(local_frame(spark, [row], METRICS_SCHEMA), self.paths.metrics, txn=txn)
        log.info("silver batch %d: %d rows in, %d duplicates, %d events to %d tables (%d new columns) in %.1fs "
                 "(parse+plan %.1fs, tables %.1fs, discards %.1fs)", batch_id, rows_in, rows_in - new_rows, new_rows,
                 len(plan.tables), len(plan.new_columns), row["duration_s"], parsed_done - begun,
                 tables_done - parsed_done, discards_done - tables_done)
        if self.on_batch:
            self.on_batch(row)

    def _merge_people(self, spark: SparkSession, parsed_df: DataFrame, rows_df: DataFrame, plan: _Plan) -> None:
        """Merge the batch's identify calls into ``users`` and id pairs into ``identity_map``.

        Both merges are idempotent (a replayed batch merges the same values to the same result).
        """
        if "identifies" in plan.tables:
            layout, condition = plan.tables["identifies"]
            columns = [("source_id", "string"), ("id", "string"), ("updated_at", "timestamp"),
                       ("loaded_at", "timestamp")] + users.trait_columns(layout)
            delta.ensure_columns(spark, self.paths.table("users"), columns)
            delta.register(spark, self.catalog, "silver_users", self.paths.table("users"))
            updates_df = users.latest_traits(rows_df.filter(F.expr(condition)), layout)
            update, insert = users.user_merge_sets(layout)
            delta.merge(updates_df, self.paths.table("users"), "t.source_id = s.source_id AND t.id = s.user_id",
                        update, insert)
        if plan.tables.keys() & {"identifies", "aliases"}:
            delta.merge(users.identity_pairs(parsed_df), self.paths.table("identity_map"),
                        "t.source_id = s.source_id AND t.anonymous_id = s.anonymous_id AND t.user_id = s.user_id",
                        {"first_seen_at": "least(t.first_seen_at, s.first_seen_at)",
                         "last_seen_at": "greatest(t.last_seen_at, s.last_seen_at)"},
                        {c: f"s.{c}" for c in IDENTITY_MAP_SCHEMA.names})

    def _begin(self, spark: SparkSession, txn: tuple[str, int]) -> tuple[datetime, bool]:
        """Record the start of batch ``txn`` in the journal, or find its first attempt.

        Returns:
            ``(loaded_at, replay)``: the batch's load time (the first attempt's, on a replay, so
            the rows are the same) and whether an earlier attempt may have written some tables.
        """
        app_id, batch_id = txn
        found = (delta.read_table(spark, self.paths.journal)
                 .filter((F.col("app_id") == app_id) & (F.col("batch_id") == batch_id)).collect())
        if found:
            log.info("silver batch %d: replaying an interrupted attempt from %s", batch_id, found[0]["loaded_at"])
            return found[0]["loaded_at"], True
        now = datetime.now(timezone.utc)
        row = {"app_id": app_id, "batch_id": batch_id, "loaded_at": now}
        delta.append(local_frame(spark, [row], JOURNAL_SCHEMA), self.paths.journal, txn=txn)
        return now, False

    def _plan(self, parsed_df: DataFrame, batch_id: int) -> _Plan:
        """Decide the batch's tables and name/type its new paths (updates ``self.layouts``)."""
        groups = [discover.Group.from_row(r) for r in discover.discover_df(parsed_df).collect()]
        event_tables = {g.event_text: discover.event_table(g.event_text) for g in groups if g.type == "track"}
        # table -> (kind, {(section, path): [kinds]}, [(type, event texts)])
        seen: dict[str, tuple[str, dict, dict]] = {}
        rows: dict[str, int] = {}
        for group in groups:
            for table, kind in discover.tables_of(group):
                rows[table] = rows.get(table, 0) + group.rows
                _, kinds, types = seen.setdefault(table, (kind, {}, {}))
                texts = types.setdefault(group.type, set())
                if kind == "event":
                    texts.add(group.event_text)
                for (section, path), k in group.kinds.items():
                    if section in discover.sections_of(kind):
                        kinds.setdefault((section, path), []).append(k)
        # Types of paths seen for the first time.
        resolved: dict[tuple[str, str, tuple], str | None] = {}  # (scope, section, path) -> type
        targets = {}
        strings: dict[tuple[str, str, tuple], bool] = {}  # only strings seen there, in every table
        for table, (kind, kinds, types) in seen.items():
            layout = self.layouts.setdefault(table, TableLayout(table, kind))
            condition = _rows_of(types, kind)
            for (section, path), observed in kinds.items():
                if (section, path) in layout.known():
                    continue
                if section == CONTEXT and path in self.context_types:
                    continue
                scope = discover.scope_of(table, section)
                key = (scope, section, path)
                strings[key] = strings.get(key, True) and set(observed) == {"STRING"}
                if any(discover.needs_values(k) for k in observed):
                    targets.setdefault(key, condition if scope != discover.GLOBAL else "true")
                else:  # the same context path in several tables: widen across them
                    resolved[key] = discover.schema.widen([resolved.get(key), discover.resolve_type(observed, None)])
        if targets:
            ids = {key: i for i, key in enumerate(sorted(targets, key=repr))}
            listed = [(ids[k], targets[k], k[1], k[2], strings[k]) for k in ids]
            # In slices: one aggregation over thousands of paths (a first batch) generates Java
            # code too large to compile, and Spark falls back to slow interpreted code.
            stats = [row for start in range(0, len(listed), _INSPECT_SLICE)
                     for row in discover.inspect_df(parsed_df, listed[start:start + _INSPECT_SLICE]).collect()]
            by_id = {row["id"]: row for row in stats}
            for key, i in ids.items():
                row = by_id.get(i)
                found = discover.resolve_type(row["kinds"], row["all_iso"]) if row else None
                resolved[key] = discover.schema.widen([resolved.get(key), found])
        new_columns, tables = [], {}
        for table, (kind, kinds, types) in seen.items():
            layout = self.layouts[table]
            wanted = {}
            for section, path in kinds:
                if (section, path) in layout.known():
                    continue
                if section == CONTEXT and path in self.context_types:
                    wanted[(section, path)] = self.context_types[path]
                    continue
                type_ = resolved.get((discover.scope_of(table, section), section, path))
                if type_ is not None:
                    wanted[(section, path)] = type_
            added = plan_columns(layout, wanted, self.silver.max_columns)
            for column in added:
                if column.section == CONTEXT:
                    self.context_types.setdefault(column.path, column.type)
            new_columns.extend(added)
            tables[table] = (layout, _rows_of(types, kind))
        return _Plan(tables, rows, event_tables, new_columns)


def _rows_of(types: dict[str, set], kind: str):
    """The filter selecting a table's rows from the parsed batch."""
    (type_, texts), = types.items()
    return discover.group_filter(type_, texts if kind == "event" else None)


def _files_for(rows: int, rows_per_file: int = 250_000) -> int:
    """Output files (and write tasks) for a table's share of a batch: one per 250k rows.

    Without it every table of every batch is written by every partition of the batch: 200
    tables x 8 partitions = 1,600 tiny files and tasks per batch.
    """
    return max(1, -(-rows // rows_per_file))


def full_refresh(spark: SparkSession, config: Config) -> None:
    """Forget silver: delete every silver table, silver's metrics and its checkpoint.

    The next run rebuilds silver from all of bronze and reproduces the same content (names come
    from the same rules in the same order, dedup keeps the same first row).
    """
    paths = SilverPaths.from_config(config)
    for path in (paths.lake.silver(""), paths.metrics, paths.checkpoint):
        if delta.remove_tree(spark, path):
            log.info("full refresh: removed %s", path)


def start_silver(spark: SparkSession, config: Config, *, available_now: bool = False,
                 on_batch: Callable[[dict], None] | None = None) -> StreamingQuery:
    """Start the silver stream over ``bronze.events`` and return the running query.

    Args:
        spark: The session (Delta configured).
        config: Lake and silver settings.
        available_now: Process what bronze holds now, then stop (a scheduled run); otherwise
            a processing-time trigger every ``silver.trigger_seconds``.
        on_batch: Called with each batch's metrics row after it committed.
    """
    paths = SilverPaths.from_config(config)
    ensure_tables(spark, paths, config.lake.catalog)
    source_df = (
        spark.readStream.format("delta")
        .option("maxFilesPerTrigger", config.silver.max_files_per_trigger)
        .load(Lake(config.lake.dir).bronze_events)
    )
    return start_foreach_batch(source_df, name=QUERY_NAME, writer=SilverWriter(config, paths, on_batch),
                               checkpoint=paths.checkpoint, trigger_seconds=config.silver.trigger_seconds,
                               available_now=available_now,
                               txn_tables=(paths.column_map, paths.discards, paths.index, paths.metrics, paths.journal))
