"""The embedded default warehouse: a DuckDB file analysts open directly."""

from __future__ import annotations

import os
from typing import Sequence

import duckdb
from sqlglot import exp

from lakehouse.warehouse import sql as q
from lakehouse.warehouse.base import Warehouse
from lakehouse.warehouse.sql import Target


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, path: str, read_only: bool = False):
        super().__init__()
        self.path = os.path.abspath(os.path.expanduser(path))
        # Read-only connections of several processes (notebooks) can share the file; a writer
        # (the export) holds it alone.
        self.read_only = read_only

    def redacted_url(self) -> str:
        return f"duckdb:///{self.path.lstrip('/')}"

    def _connect(self):
        if not self.read_only:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
        connection = duckdb.connect(self.path, read_only=self.read_only)
        # Spark writes UTC instants; stored as plain TIMESTAMP they read back in UTC.
        connection.execute("SET TimeZone = 'UTC'")
        return connection

    def _begin(self, cursor) -> None:
        cursor.execute("BEGIN TRANSACTION")

    # A DuckDB "cursor" is a second connection with its own transaction: use the connection.
    def _cursor(self):
        return self.connection

    def _release(self, cursor) -> None:
        pass

    def copy_into(self, cursor, into: Target, columns: Sequence[tuple[str, str]], files: Sequence[str]) -> None:
        names = [c for c, _ in columns]
        source = exp.Anonymous(this="read_parquet", expressions=[exp.Array(expressions=[q.lit(f) for f in files])])
        select = exp.select(*[exp.column(q.ident(c)) for c in names]).from_(source)
        insert = exp.Insert(this=exp.Schema(this=q.table(into), expressions=[q.ident(c) for c in names]),
                            expression=select)
        cursor.execute(insert.sql("duckdb"))
