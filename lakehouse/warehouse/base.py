"""The warehouse interface and the one load procedure every adapter shares.

An adapter (DuckDB, PostgreSQL, Redshift) supplies a DB-API connection and the way staged Parquet
files reach a table (``copy_into``); :meth:`Warehouse.load` does the rest in one transaction:
ledger check, create/evolve the target, COPY (into the target when it is new or replaced, else
into a staging table, then delete matching keys + insert), ledger row. A load already in the
ledger is a no-op, so a retried or replayed export never doubles a row. A merge load may carry
keys deleted in the lake (rows flagged in its ``deleted_column``): their rows leave the target
in the same transaction.
"""

from __future__ import annotations

import logging
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Sequence

import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakehouse.errors import ExportError
from lakehouse.warehouse import sql as q
from lakehouse.warehouse.sql import Target

log = logging.getLogger("lakehouse.warehouse")

MERGE, REPLACE = "merge", "replace"


@dataclass(frozen=True)
class Load:
    """One table's changes, staged as Parquet files, for one target.

    Attributes:
        target: Schema and table in the warehouse.
        lake_table: The lake table the rows come from (for the ledger).
        columns: ``(name, logical type)`` of the staged files, in file order.
        files: Local Parquet files holding the rows (may be empty: the range had no rows).
        from_version, to_version: The Delta versions of ``lake_table`` the rows cover; the
            ledger key together with ``target``.
        mode: ``merge`` (delete rows with the same ``keys``, insert) or ``replace`` (delete all
            rows, insert: for models rebuilt as a whole).
        keys: Merge keys.
        sort_key, dist_key: Redshift table layout for a new table.
        deleted_column: A boolean column of the staged files (not of the target) that is true on
            a row standing for a key deleted in the lake: the key's row is deleted from the
            target, nothing is inserted for it. Merge loads only.
    """

    target: Target
    lake_table: str
    columns: tuple[tuple[str, str], ...]
    files: tuple[str, ...]
    from_version: int
    to_version: int
    mode: str = MERGE
    keys: tuple[str, ...] = ()
    sort_key: tuple[str, ...] = ()
    dist_key: str | None = None
    deleted_column: str = ""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self):
        if self.mode not in (MERGE, REPLACE):
            raise ValueError(f"load mode must be merge or replace, not {self.mode!r}")
        if self.mode == MERGE and not self.keys:
            raise ValueError(f"a merge load of {self.target.table} needs keys")
        missing = [k for k in self.keys if k not in dict(self.columns)]
        if missing:
            raise ValueError(f"merge keys {missing} are not columns of {self.target.table}")
        if self.deleted_column and (self.mode != MERGE or dict(self.columns).get(self.deleted_column) != "boolean"):
            raise ValueError(f"the deleted flag of {self.target.table} must be a boolean column of a merge load")

    @property
    def table_columns(self) -> tuple[tuple[str, str], ...]:
        """The target's columns: the staged ones but the deleted flag."""
        return tuple(c for c in self.columns if c[0] != self.deleted_column)


@dataclass(frozen=True)
class LoadResult:
    target: Target
    rows: int
    skipped: bool  # the ledger already held this load
    columns_added: tuple[str, ...] = ()
    columns_widened: tuple[str, ...] = ()
    rows_deleted: int = 0  # keys deleted in the lake, removed from the target


class Warehouse(ABC):
    """A warehouse connection that loads staged Parquet files exactly once."""

    dialect: str = ""

    def __init__(self):
        self._connection = None

    # -- what an adapter supplies ------------------------------------------------------------
    @abstractmethod
    def _connect(self):
        """A new DB-API connection with autocommit off."""

    # True when copy_into may fill the target itself (it names its columns); False when COPY maps
    # columns by position (Redshift), so it always goes through a staging table of the file layout.
    direct_copy: bool = True

    @abstractmethod
    def copy_into(self, cursor, into: Target, columns: Sequence[tuple[str, str]], files: Sequence[str]) -> None:
        """Append the rows of the Parquet ``files`` (``columns`` in file order) to table ``into``."""

    def _begin(self, cursor) -> None:
        """Start the load's transaction (DB-API drivers open one implicitly)."""

    def _cursor(self):
        """A cursor on :attr:`connection` (same session, same transaction)."""
        return self.connection.cursor()

    def _release(self, cursor) -> None:
        cursor.close()

    def _rollback(self) -> None:
        try:
            self.connection.rollback()
        except Exception as exc:  # nothing open to roll back; the original error matters
            log.debug("rollback: %s", exc)

    def _describe_failure(self, error: Exception) -> str:
        """Extra detail for a failed load (Redshift: its load-error rows)."""
        return ""

    def redacted_url(self) -> str:
        return self.dialect

    # -- shared -----------------------------------------------------------------------------
    @property
    def connection(self):
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def query(self, statement: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run one read-only statement and return its rows (then end the transaction)."""
        return self._read(statement, params)[1]

    def query_frame(self, statement: str, params: Sequence[Any] | None = None):
        """:meth:`query` with the column names, as a pandas DataFrame (for notebooks)."""
        import pandas as pd

        names, rows = self._read(statement, params)
        return pd.DataFrame.from_records(rows, columns=names)

    def _read(self, statement: str, params: Sequence[Any] | None) -> tuple[list[str], list[tuple]]:
        cursor = self._cursor()
        try:
            cursor.execute(statement, params) if params else cursor.execute(statement)
            names = [column[0] for column in cursor.description or ()]
            rows = [tuple(row) for row in cursor.fetchall()]
            self.connection.commit()
            return names, rows
        except Exception:
            self._rollback()
            raise
        finally:
            self._release(cursor)

    def columns(self, target: Target) -> list[tuple[str, str]]:
        """``(name, logical type)`` of an existing table (empty when it does not exist)."""
        rows = self.query(q.table_columns(target, self.dialect))
        return [(name, q.logical_type(reported)) for name, reported in rows]

    def last_version(self, schema: str, table_name: str, lake_table: str | None = None) -> int | None:
        """The newest Delta version of ``table_name`` loaded into ``schema`` (from ``lake_table``,
        when given: a lake table rebuilt under the same path starts over); None: never."""
        versions = [version for (name, lake), version in self.loaded_versions(schema).items()
                    if name == table_name and lake_table in (None, lake)]
        return max(versions, default=None)

    def loaded_versions(self, schema: str) -> dict[tuple[str, str], int]:
        """``{(table name, lake table): newest loaded Delta version}`` from the ledger of ``schema``."""
        if not self.columns(q.ledger(schema)):
            return {}
        return {(name, lake): int(version) for name, lake, version in self.query(q.ledger_versions(schema, self.dialect))}

    def latest_loads(self, schema: str) -> dict[str, tuple]:
        """``{table name: (to_version, rows_loaded, loaded_at)}`` of each table's newest load."""
        if not self.columns(q.ledger(schema)):
            return {}
        return {row[0]: tuple(row[1:]) for row in self.query(q.ledger_latest(schema, self.dialect))}

    def load(self, load: Load) -> LoadResult:
        """Load one staged change set in a single transaction (see the module docstring).

        Raises:
            ExportError: the load failed and was rolled back; the message names the table and
                the warehouse (never its password) and, for Redshift, the load-error rows.
        """
        cursor = self._cursor()
        try:
            self._begin(cursor)
            result = self._load(cursor, load)
            self.connection.commit()
            return result
        except Exception as exc:
            self._rollback()
            detail = self._describe_failure(exc)
            raise ExportError(f"loading {load.target.schema}.{load.target.table} into {self.redacted_url()} failed "
                              f"and was rolled back: {exc}{detail}") from exc
        finally:
            self._release(cursor)

    def _load(self, cursor, load: Load) -> LoadResult:
        d, target, ledger = self.dialect, load.target, q.ledger(load.target.schema)
        cursor.execute(q.create_schema(target.schema, d))
        cursor.execute(q.create_table(ledger, q.LEDGER_COLUMNS, d))
        lock = q.lock(ledger, d)
        if lock:
            cursor.execute(lock)
        cursor.execute(q.ledger_lookup(target.schema, target.table, load.lake_table, load.from_version, load.to_version, d))
        if cursor.fetchall():
            log.info("%s.%s versions %d-%d: already loaded, nothing to do", target.schema, target.table,
                     load.from_version, load.to_version)
            return LoadResult(target, 0, skipped=True)
        created, added, widened = self._evolve(cursor, load)
        staged = sum(pq.ParquetFile(path).metadata.num_rows for path in load.files)
        deleted = _flagged(load.files, load.deleted_column) if load.deleted_column and staged else 0
        rows = staged - deleted
        names = [c for c, _ in load.table_columns]
        if load.mode == REPLACE:
            cursor.execute(q.delete_all(target, d))
        if staged and self.direct_copy and (load.mode == REPLACE or created) and not load.deleted_column:
            # Nothing in the target to merge with: COPY straight into it (still this transaction).
            self.copy_into(cursor, target, load.columns, load.files)
        elif staged:
            staging = Target("", f"stage_{uuid.uuid4().hex[:12]}")
            cursor.execute(q.create_staging(staging.table, load.columns, d))
            self.copy_into(cursor, staging, load.columns, load.files)
            if load.mode == MERGE:
                cursor.execute(q.delete_matching(target, staging.table, load.keys, d))
            cursor.execute(q.insert_from(target, staging.table, names, d, unless=load.deleted_column or None))
            cursor.execute(q.drop_table(staging.table, d))
        cursor.execute(q.insert_values(ledger, {
            "table_name": target.table, "lake_table": load.lake_table, "from_version": load.from_version,
            "to_version": load.to_version, "rows_loaded": rows, "mode": load.mode, "run_id": load.run_id,
            "loaded_at": datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" "),
        }, d))
        log.info("%s.%s versions %d-%d: %d rows, %d deleted (%s)", target.schema, target.table, load.from_version,
                 load.to_version, rows, deleted, load.mode)
        return LoadResult(target, rows, skipped=False, columns_added=tuple(added), columns_widened=tuple(widened),
                          rows_deleted=deleted)

    def _evolve(self, cursor, load: Load) -> tuple[bool, list[str], list[str]]:
        """Create the target, add the columns it lacks, widen the ones that narrowed.

        Returns (created, added columns, widened columns)."""
        d, target = self.dialect, load.target
        cursor.execute(q.table_columns(target, d))
        existing = {name: q.logical_type(reported) for name, reported in cursor.fetchall()}
        if not existing:
            cursor.execute(q.create_table(target, load.table_columns, d, sort_key=load.sort_key, dist_key=load.dist_key))
            return True, [], []
        added, widened = [], []
        for name, type_ in load.table_columns:
            if name not in existing:
                cursor.execute(q.add_column(target, name, type_, d))
                added.append(name)
            elif existing[name] != type_ and q.widens(existing[name], type_):
                for statement in q.widen_column(target, name, existing[name], type_, d):
                    cursor.execute(statement)
                widened.append(name)
        if added or widened:
            log.info("%s.%s: added columns %s, widened %s", target.schema, target.table, added, widened)
        return False, added, widened


def _flagged(files: Sequence[str], column: str) -> int:
    """Rows of the Parquet ``files`` whose boolean ``column`` is true."""
    return sum(int(pc.sum(pq.read_table(path, columns=[column])[column]).as_py() or 0) for path in files)
