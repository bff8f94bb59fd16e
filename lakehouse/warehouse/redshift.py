"""Amazon Redshift: Parquet staged on S3 with a manifest, ``COPY ... FORMAT AS PARQUET MANIFEST``
into a temporary staging table, then the shared delete + insert and ledger row in one transaction.

Credentials: an IAM role for COPY (the URL's ``iam_role``), the database password from the
environment (or IAM authentication with ``iam=true``); none of them is logged or put in an error.
"""

from __future__ import annotations

import logging
from typing import Sequence

from lakehouse.warehouse import sql as q
from lakehouse.warehouse.base import Warehouse
from lakehouse.warehouse.s3 import S3Stage
from lakehouse.warehouse.sql import Target

log = logging.getLogger("lakehouse.warehouse")

# The newest load errors of this session, shown when a COPY fails.
LOAD_ERRORS_SQL = (
    "SELECT TRIM(table_name), TRIM(column_name), TRIM(error_message), TRIM(file_name), line_number "
    "FROM sys_load_error_detail WHERE session_id = pg_backend_pid() ORDER BY start_time DESC LIMIT 10"
)


class RedshiftWarehouse(Warehouse):
    dialect = "redshift"

    def __init__(self, host: str, port: int, database: str, user: str, *, iam_role: str, stage: S3Stage,
                 password: str | None = None, iam: bool = False, query_group: str = "lakehouse",
                 options: dict[str, str] | None = None):
        super().__init__()
        self.host, self.port, self.database, self.user = host, port, database, user
        self.iam_role, self.stage, self.query_group = iam_role, stage, query_group
        self._password, self.iam = password, iam
        self.options = dict(options or {})
        self._staged_keys: list[str] = []

    def redacted_url(self) -> str:
        return f"redshift://{self.user}@{self.host}:{self.port}/{self.database}"

    def _connect(self):
        import redshift_connector  # imported here: only Redshift users need its start-up cost

        connection = redshift_connector.connect(host=self.host, port=self.port, database=self.database,
                                                user=self.user, password=self._password, iam=self.iam,
                                                **self.options)
        connection.autocommit = False
        cursor = connection.cursor()
        cursor.execute(q.set_query_group(self.query_group))
        cursor.close()
        connection.commit()
        return connection

    direct_copy = False  # COPY from Parquet maps columns by position: always via a staging table

    def copy_into(self, cursor, into: Target, columns: Sequence[tuple[str, str]], files: Sequence[str]) -> None:
        manifest, keys = self.stage.upload(files, into.table)
        self._staged_keys.extend(keys)
        try:
            cursor.execute(q.copy_from_manifest(into, manifest, self.iam_role))
        finally:
            # The COPY has read the files (or failed); the transaction does not need them again.
            self.stage.remove(self._staged_keys)
            self._staged_keys.clear()

    def _describe_failure(self, error: Exception) -> str:
        try:
            rows = self.query(LOAD_ERRORS_SQL)
        except Exception as exc:  # the error detail is a courtesy; never hide the real failure
            log.debug("could not read sys_load_error_detail: %s", exc)
            return ""
        if not rows:
            return ""
        lines = [f"  {table}.{column}: {message} ({file} line {line})" for table, column, message, file, line in rows]
        return "\nRedshift load errors (newest first):\n" + "\n".join(lines)
