"""The quality gate: validate each table's suite with Great Expectations, act on severities,
record everything, and say which tables may be exported.

Per table, one frame feeds every check (GX runs its expectations as one validation over it, the
row checks, the row count and the newest ``received_at`` bundled into one aggregate, see
:mod:`quality.expectations`): the table's current Delta version, read from Delta by each scan, or
in an incremental run its new and updated rows, cached. Tables are validated
``quality.parallel_tables`` at a time; the record of earlier runs (verdicts, recent history) comes
from :mod:`quality.memo` unless something else wrote it since. Then:

- ``drop`` checks that failed: their rows are appended to ``<quality>/quarantine`` (one row per
  row and check, the row as JSON) and deleted from the table, in that order; the quarantine
  append carries a Delta transaction id (table, version), so a rerun after a crash in between
  does not quarantine twice.
- every check's outcome goes to the history table; the verdict (passed unless a ``fail`` check
  failed) goes to ``<quality>/gate`` with the failed checks as the reason.
- a table whose validation raised fails alone (mode ``error``, check ``gate_error``, never carried
  over to the next run); the other tables go on.
- tables that failed raise one :class:`DataQualityError` at the end, naming each table and its
  failed checks; tables that passed are recorded first, so their export can go on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Callable

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.data_context.types.base import ProgressBarsConfig
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (BooleanType, DoubleType, LongType, StringType, StructField, StructType,
                               TimestampType)

from lakehouse import delta
from lakehouse.config import Config
from lakehouse.errors import DataQualityError
from lakehouse.spark import confs_set, local_frame
from lakehouse.status import latest_gate_rows
from lakehouse.tables import Lake
from quality import expectations, memo, report
from quality.checks import Check, fingerprint, load_suites
from quality.expectations import KEYS_UNIQUE, ExpectNoRowsWhere, ExpectTableSummary, duplicate_keys

log = logging.getLogger("lakehouse.quality")
SAMPLE_ROWS = 5
ERROR, GATE_ERROR = "error", "gate_error"  # the mode and check name of a table that could not be validated
# The gate's queries are many and small: two or three per table, each an aggregate or a
# grouping over a few columns. Adaptive execution runs each of their shuffle stages as a Spark
# job of its own and plans the rest again after it: a silver table's checks took 7-10 jobs with
# it, 4-7 without; all ten tables validated one after the other, warm, 9.9-12.7 s with it and
# 6.4-8.9 s without. (A process's first gate is mostly cold start, which this does not change.)
GATE_CONFS = {"spark.sql.adaptive.enabled": "false"}

HISTORY_SCHEMA = StructType([StructField(n, t) for n, t in (
    ("run_id", StringType()), ("table", StringType()), ("table_version", LongType()), ("check", StringType()),
    ("kind", StringType()), ("severity", StringType()), ("success", BooleanType()), ("observed_value", StringType()),
    ("unexpected_count", LongType()), ("element_count", LongType()), ("sample", StringType()),
    ("seconds", DoubleType()), ("validated_at", TimestampType()))])
GATE_SCHEMA = StructType([StructField(n, t) for n, t in (
    ("run_id", StringType()), ("table", StringType()), ("table_version", LongType()), ("table_id", StringType()),
    ("passed", BooleanType()), ("failed_checks", StringType()), ("warnings", StringType()), ("dropped_rows", LongType()),
    ("validated_rows", LongType()), ("mode", StringType()), ("decided_at", TimestampType()),
    ("suite", StringType()))])  # checks.fingerprint of the suite judged with (added last: older tables merge it in)
QUARANTINE_SCHEMA = StructType([StructField(n, t) for n, t in (
    ("table", StringType()), ("check", StringType()), ("run_id", StringType()), ("table_version", LongType()),
    ("row", StringType()), ("quarantined_at", TimestampType()))])


@dataclass(frozen=True)
class QualityPaths:
    history: str
    gate: str
    quarantine: str
    reports: str
    memo: str  # see quality.memo

    @classmethod
    def from_config(cls, config: Config) -> "QualityPaths":
        lake = Lake(config.lake.dir)
        return cls(config.quality.history_path or lake.quality("history"), lake.quality("gate"),
                   lake.quality("quarantine"), lake.reports(config.quality.reports_dir), lake.quality("gate_memo.json"))


@dataclass
class CheckResult:
    check: Check
    success: bool
    observed_value: str | None = None
    unexpected_count: int | None = None
    element_count: int | None = None
    sample: list = field(default_factory=list)


@dataclass
class Verdict:
    table: str
    table_version: int
    results: list[CheckResult]
    dropped_rows: int = 0
    table_id: str = ""
    validated_rows: int = 0
    mode: str = "full"  # full | incremental (row checks on the new rows only) | unchanged (carried over) | error
    failed_checks: tuple[str, ...] = ()  # for an unchanged table: the carried-over verdict's
    warning_checks: tuple[str, ...] = ()
    suite: str = ""  # checks.fingerprint of the checks it was judged with

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> list[str]:
        return [r.check.name for r in self.results if not r.success and r.check.severity == "fail"] + list(self.failed_checks)

    @property
    def warnings(self) -> list[str]:
        return [r.check.name for r in self.results if not r.success and r.check.severity != "fail"] + list(self.warning_checks)


def _gx_expectation(check: Check, within: TableVersion | None = None):
    if check.kind == "rows":
        return ExpectNoRowsWhere(condition=check.unexpected, description=check.name, meta={"check": check.name})
    kwargs = dict(check.kwargs)
    if within is not None and check.expectation == KEYS_UNIQUE:
        kwargs.update(table_path=within.path, table_version=within.version)
    cls_name = "".join(part.capitalize() for part in check.expectation.split("_"))
    cls = getattr(expectations, cls_name, None) or getattr(gxe, cls_name, None)
    if cls is None:
        raise DataQualityError(f"quality check {check.name!r}: Great Expectations has no expectation {check.expectation!r}")
    return cls(**kwargs, meta={"check": check.name})


@dataclass(frozen=True)
class TableVersion:
    """The whole table a frame of new rows belongs to (key uniqueness is judged in it)."""

    path: str
    version: int


class GXRunner:
    """One ephemeral Great Expectations context per gate run (a context costs a temp docs
    site and seconds to build). Each validation gets a Spark data source of its own: a source's
    execution engine holds its batches, and tables are validated on several threads at once."""

    def __init__(self):
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in job logs
        self._lock = threading.Lock()
        self._sources = 0

    @classmethod
    def lazy(cls) -> Callable[[], "GXRunner"]:
        """A function returning one runner, built on its first call (a run that finds every
        table unchanged builds none); safe to call from several threads."""
        made: list[GXRunner] = []
        lock = threading.Lock()

        def get() -> GXRunner:
            with lock:
                if not made:
                    made.append(cls())
                return made[0]
        return get

    def batch_definition(self, table: str):
        with self._lock:  # the context's data source registry is not thread-safe
            self._sources += 1
            # persist=False: GX would cache every frame it is given and never release it; the
            # gate decides what is cached (see _validate).
            source = self.context.data_sources.add_spark(f"lake_{self._sources}", persist=False)
            return (source.add_dataframe_asset(table.replace(".", "_"))
                    .add_batch_definition_whole_dataframe("all"))


def run_gx(runner: GXRunner, table: str, frame_df: DataFrame, checks: list[Check],
           within: TableVersion | None = None, summarize: str | None = None
           ) -> tuple[dict[str, CheckResult], object, dict | None]:
    """Validate ``checks`` (GX-backed kinds) over one frame in one validation; return the results
    by check name, GX's validation result (None when there is nothing to validate) and, with
    ``summarize`` (a column name, or "" for the row count alone), ``{"rows", "newest"}`` of the
    frame from the same aggregate (see :class:`quality.expectations.ExpectTableSummary`).
    With ``within``, the frame holds new rows of that table, whose keys must be unique in it."""
    gx_checks = [c for c in checks if c.kind in ("rows", "expectation")]
    if not gx_checks and summarize is None:
        return {}, None, None
    batch_definition = runner.batch_definition(table)
    suite = gx.ExpectationSuite(name=table)
    for check in gx_checks:
        suite.add_expectation(_gx_expectation(check, within))
    if summarize is not None:
        suite.add_expectation(ExpectTableSummary(column=summarize, meta={"summary": True}))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame_df})
    validation = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS})
    by_name = {c.name: c for c in gx_checks}
    results, summary = {}, None
    for item in validation.results:
        meta = item.expectation_config.meta or {}
        name = meta.get("check", "the table summary")
        result = item.result or {}
        observed = result.get("observed_value")
        unexpected = result.get("unexpected_count")
        error = _raised(item.exception_info)
        if error is not None:
            raise DataQualityError(f"{table}: check {name!r} could not run: {error}")
        if meta.get("summary"):
            newest = observed["newest"]
            summary = {"rows": observed["rows"], "newest": None if newest is None else datetime.fromisoformat(newest)}
            continue
        sample = result.get("partial_unexpected_list") or []
        if not item.success and not sample:
            sample = failing_sample(frame_df, by_name[name], within)
        results[name] = CheckResult(by_name[name], bool(item.success), None if observed is None else str(observed),
                                    None if unexpected is None else int(unexpected), result.get("element_count"),
                                    sample)
    return results, validation, summary


def _raised(exception_info: dict | None) -> str | None:
    """The message of the exception an expectation raised, or None. GX reports an exception in
    the expectation itself as ``{"raised_exception": True, "exception_message": ...}`` and one in
    a metric it needed as ``{<metric id>: {"raised_exception": True, ...}}``."""
    if not exception_info:
        return None
    for info in [exception_info] + [v for v in exception_info.values() if isinstance(v, dict)]:
        if info.get("raised_exception"):  # Spark's message goes on with the plan and the JVM stack
            return str(info.get("exception_message")).split("\n", 1)[0]
    return None


def failing_sample(frame_df: DataFrame, check: Check, within: TableVersion | None = None,
                   limit: int = SAMPLE_ROWS) -> list[dict]:
    """A few failing rows of a failed check (one small Spark job, run only when a check fails):
    the matching rows of a ``rows`` check, the repeated keys of ``expect_keys_unique``."""
    if check.kind == "rows":
        sample_df = frame_df.filter(F.expr(check.unexpected))
    elif check.expectation == KEYS_UNIQUE:
        table_df = None if within is None else delta.read_version(frame_df.sparkSession, within.path, within.version)
        sample_df = duplicate_keys(frame_df, check.kwargs["column_list"], table_df)
    else:
        return []
    return [row.asDict() for row in sample_df.limit(limit).collect()]


def volume_result(check: Check, rows: int, previous_counts: list[int]) -> CheckResult:
    """Rows added since the last run against the mean of the previous runs' additions."""
    counts = previous_counts[-(check.runs + 1):]
    if not counts:
        return CheckResult(check, True, f"{rows} rows (first run)", element_count=rows)
    added = rows - counts[-1]
    earlier = [b - a for a, b in zip(counts, counts[1:])]
    if len(earlier) < 2 or sum(earlier) == 0:
        return CheckResult(check, True, f"{added} rows added (too few runs to compare)", element_count=rows)
    mean = sum(earlier) / len(earlier)
    ok = (1 - check.tolerance) * mean <= added <= (1 + check.tolerance) * mean
    return CheckResult(check, ok, f"{added} rows added vs mean {mean:.0f} of the last {len(earlier)} runs",
                       element_count=rows)


def freshness_result(check: Check, newest: datetime | None, now: datetime) -> CheckResult:
    if newest is None:
        return CheckResult(check, False, "no rows")
    lag = (now.replace(tzinfo=None) - newest.replace(tzinfo=None)).total_seconds() / 60
    return CheckResult(check, lag <= check.max_lag_minutes, f"newest received_at {lag:.0f} minutes old")


def run_gate(spark: SparkSession, config: Config, tables: tuple[str, ...] = (), *, raise_on_failure: bool = True,
             now: datetime | None = None) -> list[Verdict]:
    """Validate every table with a suite (or only ``tables``), act, record; see the module docstring.

    A table unchanged since its last verdict (same Delta version and id) keeps that verdict without
    a validation. A table that changed since (its change feed has the new and updated rows) runs
    its ``rows`` checks on those rows only, and key uniqueness for their keys (the table's rows
    with those keys); volume and freshness see the whole table, as do other GX expectations.
    Runs with :data:`GATE_CONFS` set on ``spark`` (and restored after).

    Raises:
        DataQualityError: a table did not pass (after every table's verdict was recorded).
    """
    with confs_set(spark, GATE_CONFS):
        return _run_gate(spark, config, tables, raise_on_failure, now)


def _run_gate(spark: SparkSession, config: Config, tables: tuple[str, ...], raise_on_failure: bool,
              now: datetime | None) -> list[Verdict]:
    started = time.monotonic()
    lake, paths = Lake(config.lake.dir), QualityPaths.from_config(config)
    suites = load_suites(config.quality.suites_dir, config.quality.skew_minutes, config.quality.max_lag_minutes)
    had_history, had_gate, _ = delta.map_parallel([partial(delta.ensure_table, spark, path, schema) for path, schema in (
        (paths.history, HISTORY_SCHEMA), (paths.gate, GATE_SCHEMA), (paths.quarantine, QUARANTINE_SCHEMA))], 3)
    run_id, now = uuid.uuid4().hex[:16], now or datetime.now(timezone.utc)
    # One read of the record serves the volume checks, the verdicts carried over and the report:
    # from the memo the last run left when nothing else wrote since (see quality.memo), else from
    # Delta (not at all when the tables were created just now: reading an empty table costs
    # Delta's state rebuild).
    runs = max([report.TREND_RUNS] + [c.runs + 1 for checks in suites.values() for c in checks if c.kind == "volume"])
    versions = {"history": delta.version_and_id(spark, paths.history), "gate": delta.version_and_id(spark, paths.gate)}
    record = memo.load(spark, paths.memo, versions, runs) if had_history and had_gate else None
    if record is None:
        earlier, last = delta.map_parallel([
            partial(recent_history, spark, paths.history, runs, versions["history"][0]) if had_history else list,
            partial(latest_gate_rows, spark, lake, versions["gate"][0]) if had_gate else dict], 2)
        record = memo.Record(earlier, {table: row.asDict() for table, row in last.items()}, versions, runs)
    earlier, last = record.history, record.latest
    volumes = _volume_counts(earlier)
    runner = GXRunner.lazy()
    phases = {"set-up": time.monotonic() - started}

    def judge(table: str, checks: list[Check]) -> tuple[Verdict, list[tuple]] | None:
        path = lake.table(table)
        if not delta.is_table(spark, path):
            return None
        version, table_id = delta.version_and_id(spark, path)
        previous, suite = last.get(table), fingerprint(checks)
        if previous is not None and (previous["mode"] == ERROR or previous.get("suite") != suite):
            previous = None  # it could not be validated then, or its checks changed since: validate it whole
        if previous is not None and (previous["table_version"], previous["table_id"]) == (version, table_id):
            log.info("%s v%d: unchanged since run %s, %s", table, version, previous["run_id"],
                     "passed" if previous["passed"] else "still failed")
            return Verdict(table, version, [], 0, table_id, 0, "unchanged",
                           tuple(filter(None, (previous["failed_checks"] or "").split(", "))),
                           tuple(filter(None, (previous["warnings"] or "").split(", "))), suite), []
        since = previous["table_version"] if previous is not None and previous["table_id"] == table_id else None
        try:
            verdict, rows = _validate(spark, runner(), table, path, version, table_id, checks,
                                      volumes.get(table, []), paths, run_id, now, since)
        except Exception as exc:  # noqa: BLE001 - one table's failure is its own verdict, not the run's
            verdict, rows = _error_verdict(table, version, table_id, run_id, now, exc)
        verdict.suite = suite
        return verdict, rows

    selected = [(table, checks) for table, checks in suites.items() if not tables or table in tables]
    judged = delta.map_parallel([partial(judge, table, checks) for table, checks in selected],
                                config.quality.parallel_tables)
    phases["tables"] = time.monotonic() - started - sum(phases.values())
    verdicts, history_rows = [], []
    for outcome in filter(None, judged):
        verdicts.append(outcome[0])
        history_rows += outcome[1]
    gate_rows = _record(spark, verdicts, history_rows, paths, run_id, now)
    record = memo.advance(record, [dict(zip(HISTORY_SCHEMA.names, row)) for row in history_rows], gate_rows)
    memo.save(spark, paths.memo, record, {"history": paths.history, "gate": paths.gate})
    phases["record"] = time.monotonic() - started - sum(phases.values())
    report.write_summary(paths.reports, record.history, record.latest.values())
    phases["summary page"] = time.monotonic() - started - sum(phases.values())
    log.info("run %s: %d tables in %.1fs (%s)", run_id, len(verdicts), time.monotonic() - started,
             ", ".join(f"{name} {seconds:.1f}s" for name, seconds in phases.items()))
    failed = [v for v in verdicts if not v.passed]
    if failed and raise_on_failure:
        raise DataQualityError("quality gate failed for " + "; ".join(
            f"{v.table} ({', '.join(v.failed)})" for v in failed) + f" (run {run_id}); their export does not run")
    return verdicts


def _error_verdict(table: str, version: int, table_id: str, run_id: str, now: datetime,
                   exc: Exception) -> tuple[Verdict, list[tuple]]:
    """The verdict on a table whose validation raised (a check on a column the table lacks, an
    unreadable file): failed, so its export does not run, while the other tables' go on. It is
    recorded with mode ``error`` and one history row (check ``gate_error``), and is never carried
    over: the next run validates the table whole again."""
    message = f"{type(exc).__name__}: {exc}".splitlines()[0][:500] if str(exc) else type(exc).__name__
    log.error("%s v%d: could not be validated, so it does not pass: %s", table, version, message,
              exc_info=log.isEnabledFor(logging.DEBUG))
    reason = f"{GATE_ERROR} ({message})"
    row = (run_id, table, version, GATE_ERROR, ERROR, "fail", False, message, None, None, "[]", 0.0,
           now.replace(tzinfo=None))
    return Verdict(table, version, [], 0, table_id, 0, ERROR, (reason,)), [row]


def _new_rows(spark, path: str, since: int | None, version: int, columns: list[str]) -> DataFrame | None:
    """Rows inserted or updated after version ``since`` (None: no usable change feed)."""
    if since is None or since >= version:
        return None
    changes_df = delta.read_changes(spark, path, since + 1, version)
    return None if changes_df is None else delta.latest_images(changes_df, ()).select(*columns)


def recent_history(spark, history_path: str, runs: int, version: int | None = None) -> list[dict]:
    """The history rows of each table's last ``runs`` runs that validated it (as of ``version`` of
    the history table, default its latest)."""
    history_df = delta.read_table(spark, history_path, version)
    recent = (history_df.groupBy("table", "run_id").agg(F.max("validated_at").alias("at"))
              .withColumn("_n", F.row_number().over(Window.partitionBy("table").orderBy(F.col("at").desc())))
              .filter(F.col("_n") <= runs).select("table", "run_id"))
    return [r.asDict() for r in history_df.join(recent, on=["table", "run_id"], how="left_semi").collect()]


def _volume_counts(history: list[dict]) -> dict[str, list[int]]:
    """Per table, the row counts of its earlier row_volume checks, oldest first."""
    counts: dict[str, list[int]] = {}
    for row in sorted(history, key=lambda r: r["validated_at"]):
        if row["check"] == "row_volume" and row["element_count"] is not None:
            counts.setdefault(row["table"], []).append(row["element_count"])
    return counts


def _validate(spark, runner: GXRunner, table: str, path: str, version: int, table_id: str, checks: list[Check],
              previous_counts: list[int], paths: QualityPaths, run_id: str, now: datetime,
              since: int | None) -> tuple[Verdict, list[tuple]]:
    started = time.monotonic()
    # Its files listed once: the checks scan the table two or three times (see read_version_files).
    table_df = delta.read_version_files(spark, path, version)
    # Only the columns the checks read (bronze.events without its raw text: 6.6 s -> ~1 s at 1M).
    wanted = [c.columns() for c in checks]
    needed = None if any(w is None for w in wanted) else set().union(*wanted)
    frame_df = table_df if needed is None else table_df.select(*[c for c in table_df.columns if c in needed])
    new_df = None if table.startswith("gold.") else _new_rows(spark, path, since, version, frame_df.columns)
    # An incremental run caches its new rows (a change feed, reduced to each row's latest image:
    # computed once for the row checks, key uniqueness and their count). A full run reads the
    # table's columns from its files for each of its two scans (GX's bundled aggregate, which
    # also gives the row count and newest received_at, and key uniqueness): faster than building a
    # cache for them (bronze.events at 1.19M rows, warm: 0.49 s + 0.98 s for two scans against
    # 1.26 s + 0.20 s + 0.84 s cached).
    validated_df = frame_df if new_df is None else new_df.cache()
    newest_column = "received_at" if "received_at" in frame_df.columns else ""
    try:
        timings = {"read": time.monotonic() - started}
        if new_df is None:
            results, validation, summary = run_gx(runner, table, validated_df, checks, summarize=newest_column)
            validated = [validation]
        else:  # row checks and key uniqueness on the new rows; other expectations on the whole table
            # Row count and newest received_at of the whole table (a scan of received_at alone:
            # Delta answers a bare count from its statistics, but not this max of a timestamp;
            # checked with explain()).
            summary = table_df.agg(F.count(F.lit(1)).alias("rows"),
                                   (F.max(newest_column) if newest_column else F.lit(None)).alias("newest")).first()
            timings["read"] = time.monotonic() - started
            on_new = [c for c in checks if c.kind == "rows" or c.expectation == KEYS_UNIQUE]
            results, new_validation, _ = run_gx(runner, table, validated_df, on_new, TableVersion(path, version))
            wide, wide_validation, _ = run_gx(runner, table, frame_df, [c for c in checks if c.kind == "expectation"
                                                                        and c not in on_new])
            results.update(wide)
            validated = [new_validation, wide_validation]
        timings["gx"] = time.monotonic() - started - timings["read"]
        for index, validation in enumerate(v for v in validated if v is not None):
            report.write_validation(paths.reports, run_id, table if not index else f"{table}.table_wide", validation)
        for check in checks:
            if check.kind == "volume":
                results[check.name] = volume_result(check, summary["rows"], previous_counts)
            elif check.kind == "freshness":
                results[check.name] = freshness_result(check, summary["newest"], now)
        # Dropped rows are quarantined whole: read from the table, not the narrow frame.
        dropped, version_after = _drop(spark, table, path, version, [results[c.name] for c in checks
                                                                     if c.severity == "drop"], table_df, paths, run_id, now)
        validated_rows = summary["rows"] if new_df is None else validated_df.count()
    finally:
        validated_df.unpersist()
    ordered = [results[c.name] for c in checks]
    # The verdict is for the version validated (or the drop's DELETE), never a newer one: rows
    # appended meanwhile were not validated. (Rows appended between the validated version and a
    # drop's DELETE are in the DELETE's version unvalidated; the gate runs after silver's batch.)
    verdict = Verdict(table, version_after, ordered, dropped, table_id, validated_rows,
                      "full" if new_df is None else "incremental")
    seconds = time.monotonic() - started
    at = now.replace(tzinfo=None)
    rows = [(run_id, table, version_after, r.check.name, r.check.kind, r.check.severity, r.success, r.observed_value,
             r.unexpected_count, r.element_count, json.dumps(r.sample, default=str)[:2000], seconds, at) for r in ordered]
    level = logging.INFO if verdict.passed else logging.ERROR
    log.log(level, "%s v%d (%s, %d rows, %.1fs: read %.1fs, GX %.1fs): %s%s%s", table, version, verdict.mode,
            validated_rows, seconds, timings["read"], timings["gx"],
            "passed" if verdict.passed else "FAILED " + ", ".join(verdict.failed),
            f"; warnings {', '.join(verdict.warnings)}" if verdict.warnings else "",
            f"; {dropped} rows moved to quality quarantine" if dropped else "")
    return verdict, rows


def _drop(spark, table, path, version, results: list[CheckResult], frame_df: DataFrame, paths: QualityPaths,
          run_id: str, now: datetime) -> delta.Deleted:
    failing = [r.check for r in results if not r.success]
    if not failing:
        return delta.Deleted(0, version)
    rows_df = None
    for check in failing:
        check_df = frame_df.filter(F.expr(check.unexpected)).select(
            F.lit(table).alias("table"), F.lit(check.name).alias("check"), F.lit(run_id).alias("run_id"),
            F.lit(version).cast("long").alias("table_version"), F.to_json(F.struct(*[frame_df[c] for c in frame_df.columns])).alias("row"),
            F.lit(now.replace(tzinfo=None)).cast("timestamp").alias("quarantined_at"))
        rows_df = check_df if rows_df is None else rows_df.unionByName(check_df)
    delta.append(rows_df, paths.quarantine, txn=(f"quality-{table}", version))
    condition = " OR ".join(f"({c.unexpected})" for c in failing)
    return delta.delete_where(spark, path, condition)


def _record(spark, verdicts: list[Verdict], history_rows: list[tuple], paths: QualityPaths, run_id: str,
            now: datetime) -> list[dict]:
    """The run's history rows and verdicts, one append each (two commits per run, not per table,
    side by side); returns the gate rows as dicts."""
    at = now.replace(tzinfo=None)
    gate_rows = [(run_id, v.table, v.table_version, v.table_id, v.passed, ", ".join(v.failed), ", ".join(v.warnings),
                  v.dropped_rows, v.validated_rows, v.mode, at, v.suite) for v in verdicts]
    delta.run_parallel([partial(delta.append, local_frame(spark, rows, schema), path, merge_schema=True)
                        for rows, schema, path in ((history_rows, HISTORY_SCHEMA, paths.history),
                                                   (gate_rows, GATE_SCHEMA, paths.gate)) if rows], 2)
    return [dict(zip(GATE_SCHEMA.names, row)) for row in gate_rows]


def write_report(spark: SparkSession, config: Config, runs: int = report.TREND_RUNS) -> str:
    """Render the summary page from the last ``runs`` runs of the history; return its path."""
    paths = QualityPaths.from_config(config)
    if not delta.is_table(spark, paths.history):
        raise DataQualityError(f"no quality history at {paths.history} yet; run `lakehouse quality` first")
    history = recent_history(spark, paths.history, runs)
    gate = [row.asDict() for row in latest_gate_rows(spark, Lake(config.lake.dir)).values()]
    return str(report.write_summary(paths.reports, history, gate))
