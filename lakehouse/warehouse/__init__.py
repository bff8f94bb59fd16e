"""Warehouse adapters behind one interface, chosen by a URL.

- ``duckdb:///relative/file.duckdb`` or ``duckdb:////absolute/file.duckdb`` (the embedded default)
- ``postgresql://user@host:5432/db``
- ``redshift://user@host:5439/db?iam_role=arn:...&s3_staging=s3://bucket/prefix``
  (optional ``region``, ``iam=true`` for IAM authentication, ``query_group``)

Passwords never sit in the URL (a URL with one is refused, so it cannot end up in a config file or a
log): the adapter reads them from the environment variable the config names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import parse_qsl, unquote, urlparse

from lakehouse.errors import ConfigError
from lakehouse.warehouse.base import MERGE, REPLACE, Load, LoadResult, Warehouse
from lakehouse.warehouse.sql import Target

__all__ = ["MERGE", "REPLACE", "Load", "LoadResult", "Target", "Warehouse", "WarehouseURL", "open_warehouse"]

SCHEMES = {"duckdb": "duckdb", "postgresql": "postgres", "postgres": "postgres", "redshift": "redshift"}
_DEFAULT_PORTS = {"postgres": 5432, "redshift": 5439}


@dataclass(frozen=True)
class WarehouseURL:
    """A parsed warehouse URL (no password, by construction)."""

    dialect: str
    path: str = ""  # duckdb
    host: str = ""
    port: int = 0
    database: str = ""
    user: str = ""
    params: Mapping[str, str] = None  # type: ignore[assignment]

    @classmethod
    def parse(cls, url: str, key: str = "warehouse.url") -> "WarehouseURL":
        """Parse ``url``; a ConfigError names ``key`` and says what a good URL looks like."""
        parsed = urlparse(url)
        dialect = SCHEMES.get(parsed.scheme)
        if dialect is None:
            raise ConfigError(f"'{key}' must start with duckdb://, postgresql:// or redshift://, "
                              f"got scheme {parsed.scheme!r}")
        if parsed.password is not None:
            raise ConfigError(f"'{key}' must not contain a password; put it in the environment variable "
                              f"named by warehouse.password_env (default LAKEHOUSE_WAREHOUSE_PASSWORD)")
        params = dict(parse_qsl(parsed.query))
        if dialect == "duckdb":
            path = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
            if parsed.netloc or not path:
                raise ConfigError(f"'{key}' must look like duckdb:///file.duckdb (relative) or duckdb:////abs/file.duckdb")
            return cls("duckdb", path=path, params=params)
        if not parsed.hostname or not parsed.username or len(parsed.path) < 2:
            raise ConfigError(f"'{key}' must look like {parsed.scheme}://user@host:port/database")
        if dialect == "redshift":
            for required in ("iam_role", "s3_staging"):
                if not params.get(required):
                    raise ConfigError(f"'{key}' needs ?{required}=... for Redshift COPY "
                                      f"(redshift://user@host:5439/db?iam_role=arn:aws:iam::...&s3_staging=s3://bucket/prefix)")
        return cls(dialect, host=parsed.hostname, port=parsed.port or _DEFAULT_PORTS[dialect],
                   database=unquote(parsed.path[1:]), user=unquote(parsed.username), params=params)

    def redacted(self) -> str:
        if self.dialect == "duckdb":
            return f"duckdb:///{self.path}"
        return f"{self.dialect}://{self.user}@{self.host}:{self.port}/{self.database}"


def open_warehouse(url: str, *, password_env: str = "LAKEHOUSE_WAREHOUSE_PASSWORD",
                   env: Mapping[str, str] | None = None, s3_endpoint_url: str = "",
                   query_group: str = "lakehouse", read_only: bool = False) -> Warehouse:
    """The adapter for ``url``; the password is read from ``env[password_env]`` now, at use.
    ``read_only`` opens a DuckDB file for reading only (other warehouses grant that by role)."""
    parsed = WarehouseURL.parse(url)
    env = os.environ if env is None else env
    password = env.get(password_env) or None
    if parsed.dialect == "duckdb":
        from lakehouse.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(parsed.path, read_only=read_only)
    if parsed.dialect == "postgres":
        from lakehouse.warehouse.postgres import PostgresWarehouse

        options = {k: v for k, v in parsed.params.items() if k in ("sslmode", "connect_timeout", "application_name")}
        return PostgresWarehouse(parsed.host, parsed.port, parsed.database, parsed.user, password, options)
    from lakehouse.warehouse.redshift import RedshiftWarehouse
    from lakehouse.warehouse.s3 import S3Location, S3Stage

    stage = S3Stage(S3Location.parse(parsed.params["s3_staging"]), region=parsed.params.get("region") or None,
                    endpoint_url=s3_endpoint_url or None)
    return RedshiftWarehouse(parsed.host, parsed.port, parsed.database, parsed.user,
                             iam_role=parsed.params["iam_role"], stage=stage, password=password,
                             iam=parsed.params.get("iam", "").lower() == "true",
                             query_group=parsed.params.get("query_group", query_group))
