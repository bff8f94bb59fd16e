"""The quality gate: validate each table's suite with Great Expectations, act on severities,
record everything, and say which tables may be exported.

Per table, one cached frame of its current Delta version feeds every check (GX runs its
expectations as one validation over it). Then:

- ``drop`` checks that failed: their rows are appended to ``<quality>/quarantine`` (one row per
  row and check, the row as JSON) and deleted from the table, in that order; the quarantine
  append carries a Delta transaction id (table, version), so a rerun after a crash in between
  does not quarantine twice.
- every check's outcome goes to the history table; the verdict (passed unless a ``fail`` check
  failed) goes to ``<quality>/gate`` with the failed checks as the reason.
- tables that failed raise one :class:`DataQualityError` at the end, naming each table and its
  failed checks; tables that passed are recorded first, so their export can go on.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

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
from lakehouse.tables import Lake, join
from quality import report
from quality.checks import Check, load_suites

log = logging.getLogger("lakehouse.quality")

HISTORY_SCHEMA = StructType([StructField(n, t) for n, t in (
    ("run_id", StringType()), ("table", StringType()), ("table_version", LongType()), ("check", StringType()),
    ("kind", StringType()), ("severity", StringType()), ("success", BooleanType()), ("observed_value", StringType()),
    ("unexpected_count", LongType()), ("element_count", LongType()), ("sample", StringType()),
    ("seconds", DoubleType()), ("validated_at", TimestampType()))])
GATE_SCHEMA = StructType([StructField(n, t) for n, t in (
    ("run_id", StringType()), ("table", StringType()), ("table_version", LongType()), ("passed", BooleanType()),
    ("failed_checks", StringType()), ("warnings", StringType()), ("dropped_rows", LongType()),
    ("decided_at", TimestampType()))])
QUARANTINE_SCHEMA = StructType([StructField(n, t) for n, t in (
    ("table", StringType()), ("check", StringType()), ("run_id", StringType()), ("table_version", LongType()),
    ("row", StringType()), ("quarantined_at", TimestampType()))])


@dataclass(frozen=True)
class QualityPaths:
    history: str
    gate: str
    quarantine: str
    reports: str

    @classmethod
    def from_config(cls, config: Config) -> "QualityPaths":
        lake = Lake(config.lake.dir)
        root = join(lake.root, "quality")
        return cls(config.quality.history_path or join(root, "history"), join(root, "gate"),
                   join(root, "quarantine"), config.quality.reports_dir or join(lake.root, "reports"))


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
    passed: bool
    results: list[CheckResult]
    dropped_rows: int = 0

    @property
    def failed(self) -> list[str]:
        return [r.check.name for r in self.results if not r.success and r.check.severity == "fail"]

    @property
    def warnings(self) -> list[str]:
        return [r.check.name for r in self.results if not r.success and r.check.severity != "fail"]


def table_path(lake: Lake, table: str) -> str:
    """``bronze.events`` -> ``<lake>/bronze/events``."""
    layer, name = table.split(".", 1)
    return join(lake.root, layer, name)


def _gx_expectation(check: Check):
    if check.kind == "rows":
        return gxe.UnexpectedRowsExpectation(
            unexpected_rows_query=f"SELECT * FROM {{batch}} WHERE {check.unexpected}", description=check.name,
            meta={"check": check.name})
    cls_name = "".join(part.capitalize() for part in check.expectation.split("_"))
    cls = getattr(gxe, cls_name, None)
    if cls is None:
        raise DataQualityError(f"quality check {check.name!r}: Great Expectations has no expectation {check.expectation!r}")
    return cls(**dict(check.kwargs), meta={"check": check.name})


def run_gx(table: str, frame_df: DataFrame, checks: list[Check]) -> tuple[dict[str, CheckResult], object]:
    """Validate the GX-backed checks over one (cached) frame in one validation; return the
    results by check name and GX's validation result (None when no check needs GX)."""
    gx_checks = [c for c in checks if c.kind in ("rows", "expectation")]
    if not gx_checks:
        return {}, None
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no tqdm bars in job logs
    batch_definition = (context.data_sources.add_spark("lake").add_dataframe_asset(table.replace(".", "_"))
                        .add_batch_definition_whole_dataframe("all"))
    suite = gx.ExpectationSuite(name=table)
    for check in gx_checks:
        suite.add_expectation(_gx_expectation(check))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame_df})
    validation = batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})
    by_name = {c.name: c for c in gx_checks}
    results = {}
    for item in validation.results:
        name = (item.expectation_config.meta or {}).get("check")
        result = item.result or {}
        observed = result.get("observed_value")
        unexpected = result.get("unexpected_count", observed if by_name[name].kind == "rows" else None)
        results[name] = CheckResult(by_name[name], bool(item.success), None if observed is None else str(observed),
                                    None if unexpected is None else int(unexpected), result.get("element_count"),
                                    result.get("partial_unexpected_list") or [])
        if item.exception_info and item.exception_info.get("raised_exception"):
            raise DataQualityError(f"{table}: check {name!r} could not run: "
                                   f"{item.exception_info.get('exception_message')}")
    return results, validation


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

    Raises:
        DataQualityError: a table did not pass (after every table's verdict was recorded).
    """
    lake, paths = Lake(config.lake.dir), QualityPaths.from_config(config)
    suites = load_suites(config.quality.suites_dir, config.quality.skew_minutes, config.quality.max_lag_minutes)
    for path, schema in ((paths.history, HISTORY_SCHEMA), (paths.gate, GATE_SCHEMA), (paths.quarantine, QUARANTINE_SCHEMA)):
        delta.ensure_table(spark, path, schema)
    run_id, now = uuid.uuid4().hex[:16], now or datetime.now(timezone.utc)
    history_df = delta.read_table(spark, paths.history)
    verdicts = []
    for table, checks in suites.items():
        if tables and table not in tables:
            continue
        path = table_path(lake, table)
        if not delta.is_table(spark, path):
            continue
        verdicts.append(_validate(spark, table, path, checks, history_df, paths, run_id, now))
    write_report(spark, config)
    failed = [v for v in verdicts if not v.passed]
    if failed and raise_on_failure:
        raise DataQualityError("quality gate failed for " + "; ".join(
            f"{v.table} ({', '.join(v.failed)})" for v in failed) + f" (run {run_id}); their export does not run")
    return verdicts


def _validate(spark, table: str, path: str, checks: list[Check], history_df: DataFrame, paths: QualityPaths,
              run_id: str, now: datetime) -> Verdict:
    started = time.monotonic()
    version, _ = delta.version_and_id(spark, path)
    frame_df = delta.read_version(spark, path, version).cache()
    try:
        summary = frame_df.agg(F.count(F.lit(1)).alias("rows"),
                               (F.max("received_at") if "received_at" in frame_df.columns else F.lit(None)).alias("newest")).first()
        results, validation = run_gx(table, frame_df, checks)
        if validation is not None:
            report.write_validation(paths.reports, run_id, table, validation)
        previous = [r["element_count"] for r in history_df.filter((F.col("table") == table) & (F.col("check") == "row_volume"))
                    .orderBy("validated_at").select("element_count").collect() if r["element_count"] is not None]
        for check in checks:
            if check.kind == "volume":
                results[check.name] = volume_result(check, summary["rows"], previous)
            elif check.kind == "freshness":
                results[check.name] = freshness_result(check, summary["newest"], now)
        dropped = _drop(spark, table, path, version, [results[c.name] for c in checks if c.severity == "drop"],
                        frame_df, paths, run_id, now)
    finally:
        frame_df.unpersist()
    ordered = [results[c.name] for c in checks]
    verdict = Verdict(table, delta.version_and_id(spark, path)[0], True, ordered, dropped)
    verdict.passed = not verdict.failed
    _record(spark, verdict, paths, run_id, now, time.monotonic() - started)
    level = logging.INFO if verdict.passed else logging.ERROR
    log.log(level, "%s v%d: %s%s%s", table, version, "passed" if verdict.passed else "FAILED " + ", ".join(verdict.failed),
            f"; warnings {', '.join(verdict.warnings)}" if verdict.warnings else "",
            f"; {dropped} rows moved to quality quarantine" if dropped else "")
    return verdict


def _drop(spark, table, path, version, results: list[CheckResult], frame_df: DataFrame, paths: QualityPaths,
          run_id: str, now: datetime) -> int:
    failing = [r.check for r in results if not r.success]
    if not failing:
        return 0
    rows_df = None
    for check in failing:
        check_df = frame_df.filter(F.expr(check.unexpected)).select(
            F.lit(table).alias("table"), F.lit(check.name).alias("check"), F.lit(run_id).alias("run_id"),
            F.lit(version).cast("long").alias("table_version"), F.to_json(F.struct(*frame_df.columns)).alias("row"),
            F.lit(now.replace(tzinfo=None)).cast("timestamp").alias("quarantined_at"))
        rows_df = check_df if rows_df is None else rows_df.unionByName(check_df)
    delta.append(rows_df, paths.quarantine, txn=(f"quality-{table}", version))
    condition = " OR ".join(f"({c.unexpected})" for c in failing)
    return delta.delete_where(spark, path, condition)


def _record(spark, verdict: Verdict, paths: QualityPaths, run_id: str, now: datetime, seconds: float) -> None:
    at = now.replace(tzinfo=None)
    rows = [(run_id, verdict.table, verdict.table_version, r.check.name, r.check.kind, r.check.severity, r.success,
             r.observed_value, r.unexpected_count, r.element_count, json.dumps(r.sample, default=str)[:2000],
             seconds, at) for r in verdict.results]
    delta.append(spark.createDataFrame(rows, HISTORY_SCHEMA), paths.history)
    gate_row = [(run_id, verdict.table, verdict.table_version, verdict.passed, ", ".join(verdict.failed),
                 ", ".join(verdict.warnings), verdict.dropped_rows, at)]
    delta.append(spark.createDataFrame(gate_row, GATE_SCHEMA), paths.gate)


def write_report(spark: SparkSession, config: Config, runs: int = report.TREND_RUNS) -> str:
    """Render the summary page from the last ``runs`` runs of the history; return its path."""
    paths = QualityPaths.from_config(config)
    if not delta.is_table(spark, paths.history):
        raise DataQualityError(f"no quality history at {paths.history} yet; run `lakehouse quality` first")
    history_df = delta.read_table(spark, paths.history)
    recent = (history_df.groupBy("table", "run_id").agg(F.max("validated_at").alias("at"))
              .withColumn("_n", F.row_number().over(Window.partitionBy("table").orderBy(F.col("at").desc())))
              .filter(F.col("_n") <= runs).select("table", "run_id"))
    history = [r.asDict() for r in history_df.join(recent, on=["table", "run_id"], how="left_semi").collect()]
    gate = [r.asDict() for r in delta.read_table(spark, paths.gate).collect()]
    return str(report.write_summary(paths.reports, history, gate))


def latest_verdicts(spark: SparkSession, config: Config) -> dict[str, bool]:
    """``{"silver.tracks": passed, ...}`` from each table's latest gate decision."""
    gate = QualityPaths.from_config(config).gate
    if not delta.is_table(spark, gate):
        return {}
    rows = (delta.read_table(spark, gate).groupBy("table")
            .agg(F.max_by("passed", "decided_at").alias("passed")).collect())
    return {r["table"]: bool(r["passed"]) for r in rows}
