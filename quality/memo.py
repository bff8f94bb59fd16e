"""The gate's memo of its own recent record, so a run need not read it back from Delta.

Each run needs each table's latest verdict (``<quality>/gate``) and the history rows of the last
few runs (volume checks, the report's trends). Reading them back through Delta costs Spark jobs
and, after the previous run's commits, a snapshot update: 1.2-1.9 s of every gate run at 1M
events, the whole of a run that finds nothing new. The memo is a JSON file beside the gate table
holding what those reads return, with the Delta version and id of both tables it matches.

It is used only when both tables are still at the versions it names, and it is written only
when the run's own appends are the only commits since the versions it was made from (the
version went up by exactly the run's appends); otherwise it is removed and the next run reads
Delta. So another writer (a second gate, ``lakehouse maintain``) never leaves it stale: at
worst, the next run reads Delta.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyspark.sql import SparkSession

from lakehouse import delta, deltalog

log = logging.getLogger("lakehouse.quality")
_FORMAT = 1


@dataclass(frozen=True)
class Record:
    """What a run reads of the gate's record, and the table versions it is read at."""

    history: list[dict]  # the history rows of each table's last ``runs`` runs
    latest: dict[str, dict]  # table -> its latest gate row
    versions: dict[str, tuple[int, str]]  # "history"/"gate" -> (Delta version, table id)
    runs: int


def load(spark: SparkSession, path: str, versions: dict[str, tuple[int, str]], runs: int) -> Record | None:
    """The memo at ``path`` if it matches ``versions`` (the tables' current ones) and ``runs``."""
    text = deltalog.read_text(spark, path)
    if text is None:
        return None
    try:
        memo = json.loads(text, object_hook=_decode)
        if (memo.get("format") != _FORMAT or memo.get("runs") != runs
                or {k: tuple(v) for k, v in memo["versions"].items()} != versions):
            return None
        return Record(list(memo["history"]), dict(memo["latest"]), versions, runs)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # not a memo this code wrote
        log.warning("ignoring the gate memo %s: %s", path, exc)
        return None


def advance(record: Record, history_rows: list[dict], gate_rows: list[dict]) -> Record:
    """The record after a run appended ``history_rows`` and ``gate_rows`` (pure)."""
    history = record.history + history_rows
    last_at: dict[str, dict[str, datetime]] = {}  # table -> run id -> its latest validated_at
    for row in history:
        runs = last_at.setdefault(row["table"], {})
        runs[row["run_id"]] = max(row["validated_at"], runs.get(row["run_id"], row["validated_at"]))
    kept = {(table, run_id) for table, runs in last_at.items()
            for run_id in sorted(runs, key=runs.get, reverse=True)[:record.runs]}
    latest = dict(record.latest)
    for row in gate_rows:
        current = latest.get(row["table"])
        if current is None or (row["decided_at"], row["table_version"]) >= (current["decided_at"], current["table_version"]):
            latest[row["table"]] = row
    versions = dict(record.versions)
    for name, appended in (("history", history_rows), ("gate", gate_rows)):
        if appended:
            version, table_id = versions[name]
            versions[name] = (version + 1, table_id)
    return Record([row for row in history if (row["table"], row["run_id"]) in kept], latest, versions, record.runs)


def save(spark: SparkSession, path: str, record: Record, paths: dict[str, str]) -> bool:
    """Write ``record`` if the tables at ``paths`` ("history"/"gate" -> path) are at its versions;
    else remove the memo. Returns whether it was written."""
    current = {name: delta.version_and_id(spark, table) for name, table in paths.items()}
    if current != record.versions:
        log.info("gate memo not kept: the record moved on by other commits (%s, expected %s)", current, record.versions)
        deltalog.write_text(spark, path, None)
        return False
    deltalog.write_text(spark, path, json.dumps({
        "format": _FORMAT, "runs": record.runs, "versions": record.versions,
        "history": record.history, "latest": record.latest}, default=_encode))
    return True


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    raise TypeError(f"not in a gate memo: {type(value).__name__}")


def _decode(item: dict) -> Any:
    return datetime.fromisoformat(item["$datetime"]) if set(item) == {"$datetime"} else item
