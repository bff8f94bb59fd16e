"""``lakehouse status``: per layer and table, freshness, rows, last export, last gate verdict.

Reads the lake's tables by their paths (never a layer's code): row counts and the newest
``received_at`` from one aggregation per table; the last export from the warehouse's load ledger;
the last verdict from ``<lake>/quality/gate``. A table's lag is now minus its newest
``received_at``; with ``status.max_lag_minutes`` set, bronze.events or silver.tracks past it misses
the freshness objective and the command exits 4 (for schedulers and monitors).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from lakehouse import delta
from lakehouse.config import Config
from lakehouse.maintenance import lake_tables
from lakehouse.tables import Lake

log = logging.getLogger("lakehouse.status")

# Warehouse names of lake tables that are exported under another name.
_EXPORTED_AS = {"gold/users": "stitched_users"}
_NOT_EXPORTED = ("bronze/", "metrics/", "quality/", "silver/_", "silver/discards")
# Tables the freshness objective watches: is the pipeline flowing? (An event table of a rare
# event is legitimately hours old.)
OBJECTIVE_TABLES = ("bronze/events", "silver/tracks")
STATUS_THREADS = 8


@dataclass
class TableStatus:
    table: str  # <layer>/<name>
    version: int
    rows: int
    newest_received_at: str | None
    lag_minutes: float | None
    fresh: bool | None  # None: no objective applies
    exported_version: int | None
    exported_rows: int | None
    exported_at: str | None
    gate: str | None  # passed / failed / None (no suite)


def collect(spark: SparkSession, config: Config, *, now: datetime | None = None,
            warehouse_loads: dict[str, tuple] | None = None) -> list[TableStatus]:
    """The status of every lake table. ``warehouse_loads`` is the ledger summary
    (:meth:`Warehouse.latest_loads`), or None when the warehouse was not asked."""
    lake, now = Lake(config.lake.dir), (now or datetime.now(timezone.utc)).replace(tzinfo=None)
    objective = config.status.max_lag_minutes
    verdicts = gate_verdicts(spark, lake)

    def table_status(table: str, path: str) -> TableStatus:
        table_df = delta.read_table(spark, path)
        version, _ = delta.version_and_id(spark, path)
        has_time = "received_at" in table_df.columns
        row = table_df.agg(F.count(F.lit(1)).alias("rows"),
                           (F.max("received_at") if has_time else F.lit(None).cast("timestamp")).alias("newest")).first()
        newest = row["newest"]
        lag = None if newest is None else round((now - newest).total_seconds() / 60, 1)
        fresh = None if not (objective and table in OBJECTIVE_TABLES) else (lag is not None and lag <= objective)
        exported = None
        if warehouse_loads is not None and not table.startswith(_NOT_EXPORTED):
            exported = warehouse_loads.get(_EXPORTED_AS.get(table, table.split("/", 1)[1]))
        gate = verdicts.get(table.replace("/", ".", 1))
        return TableStatus(
            table, version, int(row["rows"]), None if newest is None else newest.isoformat(sep=" "), lag, fresh,
            None if exported is None else int(exported[0]), None if exported is None else int(exported[1]),
            None if exported is None else str(exported[2]), None if gate is None else ("passed" if gate else "failed"))

    # Each table costs a snapshot load and a small job, mostly driver time. On the 223-table demo
    # lake (2 cores): one at a time 109 s, 8 threads 100 s; with spark.databricks.delta.snapshotPartitions
    # = 1 (what `lakehouse status` sets) 93 s and 72 s.
    with ThreadPoolExecutor(max_workers=STATUS_THREADS, thread_name_prefix="status") as pool:
        return list(pool.map(lambda item: table_status(*item), lake_tables(spark, lake.root)))


def latest_gate_rows(spark: SparkSession, lake: Lake, version: int | None = None) -> dict[str, Row]:
    """Each table's latest quality gate decision, the whole ``<lake>/quality/gate`` row, newest by
    (decided_at, table_version): one run decides several versions of a table at the same time.
    ``version``: as of that version of the gate table (default: its latest)."""
    path = lake.quality("gate")
    if not delta.is_table(spark, path):
        return {}
    gate_df = delta.read_table(spark, path, version)
    rows = (gate_df.groupBy("table")
            .agg(F.max_by(F.struct(*gate_df.columns), F.struct("decided_at", "table_version")).alias("latest"))
            .collect())
    return {r["table"]: r["latest"] for r in rows}


@dataclass(frozen=True)
class GateDecision:
    """A table's latest quality gate decision: whether it passed, and which version of which
    incarnation of the table it judged (the export loads no further than that version)."""

    passed: bool
    table_version: int
    table_id: str


def gate_decisions(spark: SparkSession, lake: Lake) -> dict[str, GateDecision]:
    """``{"silver.tracks": GateDecision(...), ...}`` from each table's latest gate row."""
    return {table: GateDecision(bool(row["passed"]), int(row["table_version"]), row["table_id"] or "")
            for table, row in latest_gate_rows(spark, lake).items()}


def gate_verdicts(spark: SparkSession, lake: Lake) -> dict[str, bool]:
    """``{"silver.tracks": passed, ...}`` from each table's latest quality gate decision."""
    return {table: bool(row["passed"]) for table, row in latest_gate_rows(spark, lake).items()}


def render(statuses: list[TableStatus]) -> str:
    """A fixed-width table for people."""
    header = f"{'table':44} {'version':>7} {'rows':>11} {'newest received_at':26} {'lag min':>8} {'exported (version, rows, at)':44} gate"
    lines = [header, "-" * len(header)]
    for s in statuses:
        lag = "" if s.lag_minutes is None else f"{s.lag_minutes:,.0f}" + ("" if s.fresh in (None, True) else " LATE")
        exported = "" if s.exported_version is None else f"v{s.exported_version}, {s.exported_rows:,}, {s.exported_at[:19]}"
        lines.append(f"{s.table[:44]:44} {s.version:>7} {s.rows:>11,} {(s.newest_received_at or '')[:26]:26} {lag:>8} "
                     f"{exported:44} {s.gate or ''}")
    return "\n".join(lines)


def to_json(statuses: list[TableStatus]) -> str:
    return json.dumps([asdict(s) for s in statuses], indent=1)
