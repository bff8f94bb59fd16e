"""Quality checks declared as data: one suite per table, built in here, extended by YAML files.

A check is one of:

- ``rows``: ``unexpected`` is a Spark SQL condition that is true for a *failing* row; run as the
  gate's ``expect_no_rows_where`` (:mod:`quality.expectations`), whose counts GX computes for all
  of a table's row checks in one Spark job. Only these can have severity ``drop``: the failing
  rows are exactly the rows the condition selects.
- ``expectation``: any Great Expectations 1.x expectation by class name (``expect_column_values_
  to_not_be_null``) with its ``kwargs``, or the gate's own ``expect_keys_unique`` (``column_list``).
- ``volume``: the row count of this run against the mean of the previous runs (history table);
  flagged when it is below ``1 - tolerance`` or above ``1 + tolerance`` times that mean.
- ``freshness``: the newest ``received_at`` is at most ``max_lag_minutes`` old.

Severities: ``warn`` (reported), ``drop`` (failing rows move to the quality quarantine table, the
rest go on), ``fail`` (the table does not pass the gate; its export does not run).

Users add checks to a table without touching code: a file ``<table>.yaml`` (``silver.tracks.yaml``)
in ``quality.suites_dir`` holding a list of checks in the same shape, e.g.::

    - name: price_not_negative
      kind: rows
      unexpected: "price < 0"
      severity: drop
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import sqlglot
import yaml

from lakehouse.errors import ConfigError

SEVERITIES = ("warn", "drop", "fail")
KINDS = ("rows", "expectation", "volume", "freshness")
SEGMENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")


@dataclass(frozen=True)
class Check:
    name: str
    kind: str
    severity: str
    unexpected: str = ""  # rows: SQL condition of a failing row
    expectation: str = ""  # expectation: GX class name in snake_case
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    tolerance: float = 0.5  # volume
    runs: int = 5  # volume: previous runs compared with
    max_lag_minutes: int = 24 * 60  # freshness

    def __post_init__(self):
        where = f"quality check {self.name!r}"
        if not re.fullmatch(r"[A-Za-z0-9_]{1,100}", self.name or ""):
            raise ConfigError(f"{where}: a name is letters, digits and _ (up to 100)")
        if self.kind not in KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ConfigError(f"{where}: severity must be one of {', '.join(SEVERITIES)}, not {self.severity!r}")
        if self.severity == "drop" and self.kind != "rows":
            raise ConfigError(f"{where}: only 'rows' checks can drop rows (their condition says which)")
        if self.kind == "rows" and not self.unexpected.strip():
            raise ConfigError(f"{where}: a 'rows' check needs 'unexpected', the SQL condition of a failing row")
        if self.kind == "expectation" and not re.fullmatch(r"expect_[a-z0-9_]+", self.expectation):
            raise ConfigError(f"{where}: 'expectation' must be a Great Expectations name like expect_column_values_to_not_be_null")

    def columns(self) -> set[str] | None:
        """The table columns this check reads; None when it may read any (then keep them all)."""
        if self.kind == "rows":
            try:
                parsed = sqlglot.parse_one(self.unexpected, read="spark")
            except sqlglot.errors.ParseError:
                return None
            return {column.name for column in parsed.find_all(sqlglot.exp.Column)}
        if self.kind == "expectation":
            named = [self.kwargs[k] for k in ("column", "column_A", "column_B") if k in self.kwargs]
            named += list(self.kwargs.get("column_list", []))
            return set(named) if named else None
        return {"received_at"}

    @classmethod
    def from_dict(cls, item: Mapping[str, Any], source: str) -> "Check":
        if not isinstance(item, Mapping):
            raise ConfigError(f"{source}: each check is a mapping with name, kind, severity; got {item!r}")
        known = set(cls.__dataclass_fields__)
        unknown = set(item) - known
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(sorted(unknown))} in check {item.get('name')!r}; "
                              f"known: {', '.join(sorted(known))}")
        return cls(**item)


def _rows(name: str, unexpected: str, severity: str) -> Check:
    return Check(name, "rows", severity, unexpected=unexpected)


def _unique(*columns: str) -> Check:
    return Check("message_id_unique_per_tenant", "expectation", "fail",
                 expectation="expect_keys_unique", kwargs={"column_list": list(columns)})


# Time sanity, as SQL over `timestamp` and `received_at`.
_TIME_RANGE = "timestamp < TIMESTAMP'2000-01-01' OR timestamp > current_timestamp() + INTERVAL 1 DAY"


def _skew(minutes: int) -> str:
    return f"timestamp > received_at + INTERVAL {int(minutes)} MINUTES"


def default_suites(skew_minutes: int, max_lag_minutes: int) -> dict[str, list[Check]]:
    """The built-in suite of each table the gate validates, by ``<layer>.<table>``."""
    def event_suite(time_severity: str) -> list[Check]:
        return [
            _rows("ids_not_null", "id IS NULL OR source_id IS NULL", "fail"),
            _rows("identity_present", "user_id IS NULL AND anonymous_id IS NULL", "warn"),
            _unique("source_id", "id"),
            _rows("timestamp_in_sane_range", _TIME_RANGE, time_severity),
            _rows("received_not_before_event_beyond_skew", _skew(skew_minutes), "warn"),
            Check("row_volume", "volume", "warn"),
            Check("freshness", "freshness", "warn", max_lag_minutes=max_lag_minutes),
        ]

    return {
        "bronze.events": [
            _rows("message_id_not_null", "message_id IS NULL", "fail"),
            _rows("type_in_segment_set", "type IS NULL OR type NOT IN ("
                  + ", ".join(f"'{t}'" for t in SEGMENT_TYPES) + ")", "fail"),
            _rows("timestamp_in_sane_range", _TIME_RANGE, "warn"),
            Check("row_volume", "volume", "warn"),
            Check("freshness", "freshness", "warn", max_lag_minutes=max_lag_minutes),
        ],
        # Per-event tables are projections of tracks: the tracks verdict is theirs.
        "silver.tracks": event_suite("warn"),
        "silver.pages": event_suite("drop"),
        "silver.screens": event_suite("drop"),
        "silver.identifies": event_suite("drop"),
        "silver.users": [_rows("user_id_not_null", "id IS NULL", "fail"), _unique("source_id", "id")],
        "gold.sessions": [
            _rows("duration_not_negative", "duration_s < 0 OR duration_s IS NULL", "fail"),
            _rows("at_least_one_event", "events < 1 OR events IS NULL", "fail"),
            Check("session_id_unique", "expectation", "fail", expectation="expect_keys_unique",
                  kwargs={"column_list": ["session_id"]}),
        ],
        "gold.users": [_rows("person_id_not_null", "person_id IS NULL", "fail")],
        "gold.daily_active_users": [_rows("active_users_positive", "active_users < 1", "fail")],
        "gold.event_counts_daily": [_rows("events_positive", "events < 1", "fail")],
    }


def fingerprint(checks: Sequence[Check]) -> str:
    """A short hash of a suite's checks and their settings: a verdict is carried over to a later run
    only while the table and this stay the same."""
    text = json.dumps([asdict(check) for check in checks], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_suites(suites_dir: str, skew_minutes: int, max_lag_minutes: int) -> dict[str, list[Check]]:
    """Built-in suites plus the checks in ``suites_dir/<layer>.<table>.yaml`` (a new table there
    gets a suite of its own). A check named like a built-in one replaces it."""
    suites = default_suites(skew_minutes, max_lag_minutes)
    if not suites_dir:
        return suites
    folder = Path(suites_dir).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"'quality.suites_dir' {folder} is not a folder; create it or unset LAKEHOUSE_QUALITY_SUITES_DIR")
    for path in sorted(folder.glob("*.yaml")):
        table = path.stem
        if not re.fullmatch(r"(bronze|silver|gold)\.[A-Za-z0-9_]+", table):
            raise ConfigError(f"{path}: name the file <layer>.<table>.yaml, e.g. silver.tracks.yaml")
        try:
            items = yaml.safe_load(path.read_text()) or []
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from None
        if not isinstance(items, list):
            raise ConfigError(f"{path} must hold a list of checks")
        added = [Check.from_dict(item, str(path)) for item in items]
        names = {c.name for c in added}
        suites[table] = [c for c in suites.get(table, []) if c.name not in names] + added
    return suites
