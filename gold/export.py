"""``lakehouse export``: each table's changes since its last load, staged as Parquet, loaded once.

Per lake table and warehouse target:

1. The ledger in the target says which Delta version of the table was loaded last (and for which
   incarnation of the table: a rebuilt table has a new Delta id and starts over).
2. Nothing new: skip. Never loaded, or its change feed does not reach back: the whole table at
   the current version, loaded in ``replace`` mode. Otherwise the Change Data Feed of the versions
   since, reduced to the newest image of each key, loaded in ``merge`` mode; a key whose newest
   change is a delete (a GDPR erasure in the lake) is staged flagged, and its row leaves the
   warehouse table in the same load. Models rebuilt as a whole (gold) are always loaded in
   ``replace`` mode.
   A table the quality gate judges is loaded no further than the version its latest passing
   verdict judged (rows that landed after the gate wait for the next one); a per-event table,
   judged by the tracks verdict, no further than its newest version committed before that tracks
   version. A table that failed its gate, or was rebuilt since, is not loaded.
3. The rows are staged as Parquet files and handed to the warehouse adapter, whose load runs in
   one transaction with the ledger row. Staged files are removed afterwards.

Tenants (``source_id``) are routed to their own schema or warehouse by configuration.
"""

from __future__ import annotations

import glob
import logging
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (BooleanType, DateType, DoubleType, FloatType, IntegerType, LongType, ShortType,
                               StringType, TimestampType)

from lakehouse import delta
from lakehouse.config import Config
from lakehouse.status import GateDecision
from lakehouse.tables import Lake, join, local_path
from lakehouse.warehouse import MERGE, REPLACE, Load, LoadResult, Target, Warehouse, open_warehouse

log = logging.getLogger("lakehouse.export")

SILVER_TABLES = ("tracks", "pages", "screens", "identifies", "groups", "aliases", "users", "identity_map")
# Silver tables that are not published (audit and bookkeeping).
SILVER_INTERNAL = ("discards", "_column_map", "_message_ids", "_batches")
GOLD_TABLES = ("sessions", "users", "daily_active_users", "event_counts_daily")
# Gold's stitched users would collide with Segment's silver ``users`` in one schema.
GOLD_NAMES = {"users": "stitched_users"}
# A merge load's staged files flag the keys deleted in the lake with this column (not loaded).
DELETED_FLAG = "_lakehouse_deleted"
_LOGICAL = {StringType: "string", LongType: "bigint", IntegerType: "int", ShortType: "int", DoubleType: "double",
            FloatType: "float", BooleanType: "boolean", TimestampType: "timestamp", DateType: "date"}


@dataclass(frozen=True)
class ExportTable:
    """A lake table and how it lands in the warehouse."""

    name: str  # warehouse table name
    path: str
    mode: str  # merge: changes by key; replace: the whole table each time it changes
    keys: tuple[str, ...] = ()
    sort_key: tuple[str, ...] = ()
    gate_table: str = ""  # the quality gate's table whose verdict applies (``silver.tracks``)


@dataclass(frozen=True)
class Route:
    """One warehouse target and the tenants it receives (``None``: every tenant not routed elsewhere)."""

    url: str
    schema: str
    source_ids: frozenset[str] | None


def routes(config: Config) -> list[Route]:
    """Group tenants by (warehouse URL, schema); the default route takes everyone else."""
    wh = config.warehouse
    grouped: dict[tuple[str, str], set[str]] = {}
    for source_id in set(wh.tenant_schemas) | set(wh.tenant_urls):
        key = (wh.tenant_urls.get(source_id, wh.url), wh.tenant_schemas.get(source_id, wh.schema))
        grouped.setdefault(key, set()).add(source_id)
    result = [Route(wh.url, wh.schema, None)]
    for (url, schema), ids in sorted(grouped.items()):
        if (url, schema) == (wh.url, wh.schema):
            continue  # routed to the default anyway
        result.append(Route(url, schema, frozenset(ids)))
    return result


def tenant_filter(route: Route, all_routes: Iterable[Route]):
    """The rows of ``route``: its tenants, or (default route) those no other route takes."""
    if route.source_ids is not None:
        return F.col("source_id").isin(sorted(route.source_ids))
    routed = sorted({s for r in all_routes if r.source_ids for s in r.source_ids})
    return ~F.col("source_id").isin(routed) if routed else F.lit(True)


def export_tables(spark: SparkSession, lake: Lake) -> list[ExportTable]:
    """Every table the export publishes that exists: silver's Segment tables, the per-event
    tables (every other silver table but audit and bookkeeping), the gold models."""
    silver_found, gold_found = delta.child_tables(spark, lake.silver("")), delta.child_tables(spark, lake.gold(""))
    keys = ("source_id", "id")
    tables = [ExportTable(name, lake.silver(name), MERGE, ("source_id", "anonymous_id", "user_id")
                          if name == "identity_map" else keys, () if name in ("users", "identity_map") else ("received_at",),
                          f"silver.{name}")
              for name in SILVER_TABLES if name in silver_found]
    gold_names = {GOLD_NAMES.get(n, n) for n in GOLD_TABLES}
    for name in silver_found:
        if name in SILVER_TABLES or name in SILVER_INTERNAL:
            continue
        warehouse_name = name if name not in gold_names else f"event_{name}"
        # A per-event table is a projection of tracks: the tracks verdict is its verdict.
        tables.append(ExportTable(warehouse_name, lake.silver(name), MERGE, keys, ("received_at",), "silver.tracks"))
    sort_keys = {"sessions": ("started_at",), "daily_active_users": ("day",), "event_counts_daily": ("day",)}
    tables += [ExportTable(GOLD_NAMES.get(n, n), lake.gold(n), REPLACE, (), sort_keys.get(n, ()), f"gold.{n}")
               for n in GOLD_TABLES if n in gold_found]
    return tables


def warehouse_columns(df: DataFrame) -> tuple[DataFrame, tuple[tuple[str, str], ...]]:
    """``df`` with every column in a type the warehouses share (others as JSON text), and the
    ``(name, logical type)`` list of the staged files."""
    selected, columns = [], []
    for field in df.schema.fields:
        logical = _LOGICAL.get(type(field.dataType))
        if logical is None:
            selected.append(F.to_json(F.col(field.name)).alias(field.name) if field.dataType.typeName() in
                            ("struct", "array", "map") else F.col(field.name).cast("string").alias(field.name))
            logical = "string"
        else:
            selected.append(F.col(field.name))
        columns.append((field.name, logical))
    return df.select(*selected), tuple(columns)


@dataclass(frozen=True)
class Plan:
    rows_df: DataFrame | None  # None: nothing to load
    mode: str
    from_version: int
    to_version: int
    deleted_column: str = ""  # merge: the column flagging keys deleted in the lake


def plan(spark: SparkSession, table: ExportTable, last: int | None, current: int) -> Plan:
    """What to load for ``table`` given the last loaded version (see the module docstring)."""
    if last is not None and last >= current:
        return Plan(None, table.mode, current, current)
    if table.mode == REPLACE or last is None:
        # Its files listed once, from the version's checksum when it lists them (no Spark job).
        return Plan(delta.read_version_files(spark, table.path, current), REPLACE, 0 if last is None else last + 1,
                    current)
    changes_df = delta.read_changes(spark, table.path, last + 1, current)
    if changes_df is None:
        log.warning("%s: no change feed for versions %d-%d; loading the whole table", table.name, last + 1, current)
        return Plan(delta.read_version_files(spark, table.path, current), REPLACE, last + 1, current)
    flag = deleted_flag(changes_df.columns)
    return Plan(delta.latest_images(changes_df, table.keys, deleted=flag), MERGE, last + 1, current, flag)


def deleted_flag(columns: Iterable[str]) -> str:
    """The name of the staged column that flags keys deleted in the lake: one no table column has."""
    taken, name = set(columns), DELETED_FLAG
    while name in taken:
        name = f"_{name}"
    return name


def stage(rows_df: DataFrame, folder: str, file_rows: int) -> list[str]:
    """Write ``rows_df`` as Parquet files of at most ``file_rows`` rows; return the local files."""
    local = local_path(folder, "warehouse.staging_dir")  # before writing: a remote folder would glob to no files
    rows_df.write.mode("overwrite").option("maxRecordsPerFile", file_rows).parquet(folder)
    return sorted(glob.glob(f"{local}/*.parquet"))


@dataclass(frozen=True)
class ExportResult:
    table: str
    schema: str
    result: LoadResult | None  # None: nothing new, or held (see ``held``)
    held: str = ""  # why nothing was loaded although the table may have changed


@dataclass(frozen=True)
class Held:
    """A table not loaded this time, and why (it waits for the quality gate)."""

    reason: str


def run_export(spark: SparkSession, config: Config, *, tables: tuple[str, ...] = (),
               gate: Mapping[str, GateDecision] | None = None,
               opener: Callable[[str], Warehouse] | None = None) -> list[ExportResult]:
    """Export every table (or ``tables``) whose quality gate passed to every route.

    Staging (Spark reads the changes and writes Parquet) runs for ``warehouse.stage_parallelism``
    tables at once; the loads run one at a time on the route's connection, in table order, as
    their files become ready. The first failure stops the export after the loads before it.

    Args:
        gate: The quality gate's latest decision per gate table (``silver.tracks``,
            ``gold.sessions``; :func:`lakehouse.status.gate_decisions`). A table that did not pass
            is skipped and reported; one that passed is loaded up to the version judged. A table
            without a decision, or ``gate=None``, is loaded as it is now.
        opener: Opens a warehouse by URL (default: :func:`lakehouse.warehouse.open_warehouse`).
    """
    lake = Lake(config.lake.dir)
    wh = config.warehouse
    opener = opener or (lambda url: open_warehouse(url, password_env=wh.password_env,
                                                   s3_endpoint_url=wh.s3_endpoint_url, query_group=wh.query_group))
    staging_root = wh.staging_dir or join(lake.root, "_staging", "export")
    local_path(staging_root, "warehouse.staging_dir")  # fail before any work when it is remote (s3a:// lake)
    all_routes = routes(config)
    selected, gate = [], gate or {}
    for table in export_tables(spark, lake):
        if tables and table.name not in tables:
            continue
        decision = gate.get(table.gate_table)
        if decision is not None and not decision.passed:
            log.warning("%s: the quality gate did not pass for %s; not exported", table.name, table.gate_table)
            continue
        selected.append(table)
    follows = {t.name for t in selected if _follows(lake, t)}
    judged_at = {name: _judged_at(spark, lake, name, gate[name])
                 for name in {t.gate_table for t in selected if t.name in follows and t.gate_table in gate}}
    results: list[ExportResult] = []
    for route in all_routes:
        with opener(route.url) as warehouse, ThreadPoolExecutor(wh.stage_parallelism) as pool:
            loaded = warehouse.loaded_versions(route.schema)
            futures = [pool.submit(_prepare, spark, route, all_routes, table, loaded, staging_root, wh.file_rows,
                                   gate.get(table.gate_table), judged_at.get(table.gate_table),
                                   table.name in follows)
                       for table in selected]
            loaded_count = 0
            try:
                for table, future in zip(selected, futures):
                    results.append(_load(warehouse, route, table, future.result()))  # removes its staged files
                    loaded_count += 1
            finally:  # after a failure: drop what was staged but never loaded
                for future in futures[loaded_count:]:
                    if not future.cancel() and future.exception() is None and isinstance(future.result(), tuple):
                        _remove(future.result()[1])
    return results


def _follows(lake: Lake, table: ExportTable) -> bool:
    """Whether ``table`` is judged by another table's verdict (a per-event table by tracks')."""
    return bool(table.gate_table) and lake.table(table.gate_table) != table.path


def _judged_at(spark, lake: Lake, gate_table: str, decision: GateDecision) -> int | None:
    """When (ms) the last silver batch in the version the gate judged was committed (the newest
    ``WRITE`` up to that version); None when that table was rebuilt since."""
    path = lake.table(gate_table)
    if not delta.is_table(spark, path) or delta.version_and_id(spark, path)[1] != decision.table_id:
        return None
    return delta.write_time(spark, path, decision.table_version)


def loadable_version(spark, table: ExportTable, current: int, table_id: str, decision: GateDecision | None,
                     judged_at: int | None, follows: bool) -> int | Held:
    """The newest version of ``table`` the export may load, or why none may be loaded yet.

    No gate decision: the current one. Judged by its own verdict: the version judged, unless the
    table was rebuilt since. Judged by another table's verdict (a per-event table by tracks'): its
    newest version committed before the last batch in the tracks version judged. Silver commits
    tracks after a batch's per-event tables, so that takes exactly the batches the gate saw; a
    batch it has not seen waits for the next gate.
    """
    if decision is None:
        return current
    if not follows:
        if decision.table_id != table_id:
            return Held(f"rebuilt since the quality gate judged {table.gate_table}; waits for the next gate")
        return min(current, decision.table_version)
    if judged_at is None:
        return Held(f"{table.gate_table} was rebuilt since the quality gate judged it; waits for the next gate")
    version = delta.version_before(spark, table.path, judged_at)
    if version is None:
        return Held(f"created after the {table.gate_table} version the quality gate judged; waits for the next gate")
    return version


def _prepare(spark, route: Route, all_routes, table: ExportTable, loaded: dict[tuple[str, str], int],
             staging_root: str, file_rows: int, decision: GateDecision | None = None,
             judged_at: int | None = None, follows: bool = False) -> tuple[Load, str] | Held | None:
    """Plan and stage one table's load for ``route``: ``(load, staging folder)``, None if up to
    date, :class:`Held` if the gate has not judged any of it yet."""
    current, table_id = delta.version_and_id(spark, table.path)
    upto = loadable_version(spark, table, current, table_id, decision, judged_at, follows)
    if isinstance(upto, Held):
        return upto
    if upto < current:
        log.info("%s: loading up to version %d, the one the quality gate judged (now %d)", table.name, upto, current)
    lake_table = f"{table.path}#{table_id}"
    load_plan = plan(spark, table, loaded.get((table.name, lake_table)), upto)
    if load_plan.rows_df is None:
        return None
    rows_df, columns = warehouse_columns(load_plan.rows_df.filter(tenant_filter(route, all_routes)))
    folder = join(staging_root, f"{table.name}-{uuid.uuid4().hex[:12]}")
    files = stage(rows_df, folder, file_rows)
    load = Load(Target(route.schema, table.name), lake_table, columns, tuple(files), load_plan.from_version,
                load_plan.to_version, mode=load_plan.mode, keys=table.keys if load_plan.mode == MERGE else (),
                sort_key=table.sort_key, deleted_column=load_plan.deleted_column)
    return load, folder


def _load(warehouse: Warehouse, route: Route, table: ExportTable, prepared: tuple[Load, str] | Held | None) -> ExportResult:
    if prepared is None:
        log.info("%s.%s: up to date", route.schema, table.name)
        return ExportResult(table.name, route.schema, None)
    if isinstance(prepared, Held):
        log.warning("%s.%s: not loaded, %s", route.schema, table.name, prepared.reason)
        return ExportResult(table.name, route.schema, None, prepared.reason)
    load, folder = prepared
    try:
        return ExportResult(table.name, route.schema, warehouse.load(load))
    finally:
        _remove(folder)


def _remove(folder: str) -> None:
    shutil.rmtree(local_path(folder, "warehouse.staging_dir"), ignore_errors=True)
