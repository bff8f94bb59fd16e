"""Warehouse SQL, built in one place with sqlglot and rendered per dialect.

Every identifier goes through :func:`ident` (always quoted, quotes doubled by sqlglot) and every
value through :func:`lit`; nothing from an event, a table or a config is pasted into SQL text.
Dialects: ``duckdb``, ``postgres``, ``redshift`` (sqlglot's names).

The load a warehouse runs for one table (see :mod:`lakehouse.warehouse.base`)::

    CREATE SCHEMA IF NOT EXISTS s;  CREATE TABLE IF NOT EXISTS s._lakehouse_loads (...)
    LOCK s._lakehouse_loads                      -- postgres, redshift: one loader at a time
    SELECT 1 FROM s._lakehouse_loads WHERE ...   -- this range already loaded? then stop
    CREATE TABLE IF NOT EXISTS s.t (...);  ALTER TABLE s.t ADD COLUMN c ...  (one per column)
    DELETE FROM s.t                              -- replace mode (a rebuilt model, a first load)
    COPY s.t ...                                 -- a new or replaced table (not Redshift: by position)
    CREATE TEMP TABLE stage (...);  COPY stage ...   -- otherwise, to merge:
    DELETE FROM s.t USING stage WHERE t.k = stage.k;  INSERT INTO s.t (...) SELECT ... FROM stage
    INSERT INTO s._lakehouse_loads VALUES (...)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlglot import exp

DIALECTS = ("duckdb", "postgres", "redshift")
LEDGER_TABLE = "_lakehouse_loads"

# Logical column types (Spark's simple type names) -> warehouse types.
_TYPES = {
    "string": {"duckdb": "VARCHAR", "postgres": "TEXT", "redshift": "VARCHAR(65535)"},
    "bigint": {"duckdb": "BIGINT", "postgres": "BIGINT", "redshift": "BIGINT"},
    "int": {"duckdb": "INTEGER", "postgres": "INTEGER", "redshift": "INTEGER"},
    "double": {"duckdb": "DOUBLE", "postgres": "DOUBLE PRECISION", "redshift": "DOUBLE PRECISION"},
    "float": {"duckdb": "REAL", "postgres": "REAL", "redshift": "REAL"},
    "boolean": {"duckdb": "BOOLEAN", "postgres": "BOOLEAN", "redshift": "BOOLEAN"},
    "timestamp": {"duckdb": "TIMESTAMP", "postgres": "TIMESTAMP", "redshift": "TIMESTAMP"},
    "date": {"duckdb": "DATE", "postgres": "DATE", "redshift": "DATE"},
}
# What each type widens to without losing a value (a silver column re-typed by a full refresh).
_WIDER = {
    "boolean": ("int", "bigint", "double", "string"),
    "int": ("bigint", "double", "string"),
    "bigint": ("double", "string"),
    "float": ("double", "string"),
    "double": ("string",),
    "date": ("timestamp", "string"),
    "timestamp": ("string",),
    "string": (),
}
# Warehouse type names as information_schema reports them -> logical types.
_REPORTED = {
    "varchar": "string", "character varying": "string", "text": "string", "bigint": "bigint",
    "integer": "int", "int": "int", "double": "double", "double precision": "double", "real": "float",
    "float": "float", "boolean": "boolean", "timestamp": "timestamp",
    "timestamp without time zone": "timestamp", "date": "date",
}

LEDGER_COLUMNS = (
    ("table_name", "string"), ("lake_table", "string"), ("from_version", "bigint"), ("to_version", "bigint"),
    ("rows_loaded", "bigint"), ("mode", "string"), ("run_id", "string"), ("loaded_at", "timestamp"),
)


@dataclass(frozen=True)
class Target:
    """A table in a warehouse schema."""

    schema: str
    table: str


def check_dialect(dialect: str) -> str:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown warehouse dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    return dialect


def ident(name: str) -> exp.Identifier:
    """A quoted identifier, whatever ``name`` holds."""
    return exp.to_identifier(name, quoted=True)


def lit(value) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def table(target: Target) -> exp.Table:
    return exp.Table(this=ident(target.table), db=ident(target.schema) if target.schema else None)


def warehouse_type(logical: str, dialect: str) -> exp.DataType:
    try:
        name = _TYPES[logical][dialect]
    except KeyError:
        raise ValueError(f"no warehouse type for column type {logical!r}") from None
    return exp.DataType.build(name, dialect=dialect)


def logical_type(reported: str) -> str:
    """The logical type of a warehouse column type as information_schema spells it (the
    reported name itself when it is none of ours)."""
    base = reported.lower().split("(")[0].strip()
    return _REPORTED.get(base, reported)


def widens(old: str, new: str) -> bool:
    """True when a column of type ``old`` must change to ``new`` to hold new values losslessly."""
    return new in _WIDER.get(old, ())


def _column_defs(columns: Sequence[tuple[str, str]], dialect: str) -> list[exp.ColumnDef]:
    return [exp.ColumnDef(this=ident(name), kind=warehouse_type(type_, dialect)) for name, type_ in columns]


def create_schema(schema: str, dialect: str) -> str:
    return exp.Create(this=exp.Table(db=ident(schema)), kind="SCHEMA", exists=True).sql(dialect)


def create_table(target: Target, columns: Sequence[tuple[str, str]], dialect: str, *,
                 sort_key: Sequence[str] = (), dist_key: str | None = None) -> str:
    """``CREATE TABLE IF NOT EXISTS``; on Redshift with the given SORTKEY and DISTKEY (else AUTO)."""
    create = exp.Create(this=exp.Schema(this=table(target), expressions=_column_defs(columns, dialect)),
                        kind="TABLE", exists=True)
    if dialect == "redshift":
        properties: list[exp.Expression] = [exp.DistStyleProperty(this=exp.var("KEY" if dist_key else "AUTO"))]
        if dist_key:
            properties.append(exp.DistKeyProperty(this=ident(dist_key)))
        if sort_key:
            properties.append(exp.SortKeyProperty(this=[ident(c) for c in sort_key], compound=False))
        create.set("properties", exp.Properties(expressions=properties))
    return create.sql(dialect)


def create_staging(name: str, columns: Sequence[tuple[str, str]], dialect: str) -> str:
    """A temporary table (dropped at the end of the session) with exactly ``columns``, in order:
    Redshift's COPY from Parquet maps columns by position."""
    create = exp.Create(this=exp.Schema(this=exp.Table(this=ident(name)), expressions=_column_defs(columns, dialect)),
                        kind="TABLE", properties=exp.Properties(expressions=[exp.TemporaryProperty()]))
    return create.sql(dialect)


def drop_table(name: str, dialect: str) -> str:
    return exp.Drop(tables=[exp.Table(this=ident(name))], kind="TABLE", exists=True).sql(dialect)


def add_column(target: Target, column: str, type_: str, dialect: str) -> str:
    """One ``ALTER TABLE ... ADD COLUMN`` (Redshift adds one column per statement)."""
    alter = exp.Alter(this=table(target), kind="TABLE",
                      actions=[exp.ColumnDef(this=ident(column), kind=warehouse_type(type_, dialect))])
    return alter.sql(dialect)


def drop_column(target: Target, column: str, dialect: str) -> str:
    return exp.Alter(this=table(target), kind="TABLE", actions=[exp.Drop(tables=[exp.column(ident(column))], kind="COLUMN")]).sql(dialect)


def rename_column(target: Target, old: str, new: str, dialect: str) -> str:
    return exp.Alter(this=table(target), kind="TABLE",
                     actions=[exp.RenameColumn(this=ident(old), to=ident(new))]).sql(dialect)


def widen_column(target: Target, column: str, old_type: str, new_type: str, dialect: str) -> list[str]:
    """Statements that change ``column`` to ``new_type`` keeping every value (as its text for
    string). Redshift cannot change a column's type in place (only a VARCHAR's length), so all
    dialects take the same path: add a column, copy with a cast, drop the old one, rename.
    The column moves to the end of the table; loads name their columns, so that is harmless."""
    temporary = f"{column[:100]}__widen"
    value: exp.Expression = exp.column(ident(column))
    if old_type == "boolean" and new_type == "string":  # Redshift cannot CAST a boolean to text
        value = exp.Case(ifs=[exp.If(this=value, true=lit("true")), exp.If(this=exp.Not(this=value), true=lit("false"))])
    else:
        value = exp.Cast(this=value, to=warehouse_type(new_type, dialect))
    copy = exp.update(table(target), {ident(temporary): value}, dialect=dialect)
    return [add_column(target, temporary, new_type, dialect), copy.sql(dialect),
            drop_column(target, column, dialect), rename_column(target, temporary, column, dialect)]


def delete_matching(target: Target, staging: str, keys: Sequence[str], dialect: str) -> str:
    """``DELETE FROM target USING staging WHERE target.k = staging.k AND ...``."""
    target_alias, staging_table = exp.to_identifier("t"), exp.Table(this=ident(staging))
    condition = exp.and_(*[exp.EQ(this=exp.column(ident(k), table=target_alias), expression=exp.column(ident(k), table=ident(staging)))
                           for k in keys])
    delete = exp.Delete(this=exp.alias_(table(target), target_alias, table=True), using=[staging_table], where=exp.Where(this=condition))
    return delete.sql(dialect)


def delete_all(target: Target, dialect: str) -> str:
    """``DELETE`` (not ``TRUNCATE``: Redshift's TRUNCATE commits the open transaction)."""
    return exp.Delete(this=table(target)).sql(dialect)


def insert_from(target: Target, staging: str, columns: Sequence[str], dialect: str, *, unless: str | None = None) -> str:
    """``INSERT INTO target (cols) SELECT cols FROM staging`` [``WHERE NOT unless``: skip the rows
    flagged by that boolean column]."""
    select = exp.select(*[exp.column(ident(c)) for c in columns]).from_(exp.Table(this=ident(staging)))
    if unless:
        select = select.where(exp.Not(this=exp.column(ident(unless))))
    insert = exp.Insert(this=exp.Schema(this=table(target), expressions=[ident(c) for c in columns]), expression=select)
    return insert.sql(dialect)


def insert_values(target: Target, row: dict, dialect: str) -> str:
    values = exp.Tuple(expressions=[lit(v) for v in row.values()])
    insert = exp.Insert(this=exp.Schema(this=table(target), expressions=[ident(c) for c in row]),
                        expression=exp.Values(expressions=[values]))
    return insert.sql(dialect)


def ledger(schema: str) -> Target:
    return Target(schema, LEDGER_TABLE)


def ledger_lookup(schema: str, table_name: str, lake_table: str, from_version: int, to_version: int,
                  dialect: str) -> str:
    """Rows of the ledger for exactly this load (table, lake table incarnation, version range)."""
    where = exp.and_(
        exp.EQ(this=exp.column(ident("table_name")), expression=lit(table_name)),
        exp.EQ(this=exp.column(ident("lake_table")), expression=lit(lake_table)),
        exp.EQ(this=exp.column(ident("from_version")), expression=lit(from_version)),
        exp.EQ(this=exp.column(ident("to_version")), expression=lit(to_version)),
    )
    return exp.select(exp.column(ident("rows_loaded"))).from_(table(ledger(schema))).where(where).sql(dialect)


def ledger_versions(schema: str, dialect: str) -> str:
    """``(table_name, lake_table, newest to_version)`` of every table in the ledger."""
    columns = [exp.column(ident("table_name")), exp.column(ident("lake_table"))]
    return (exp.select(*columns, exp.Max(this=exp.column(ident("to_version")))).from_(table(ledger(schema)))
            .group_by(*columns).sql(dialect))


def ledger_latest(schema: str, dialect: str) -> str:
    """Each table's newest ledger row: ``(table_name, to_version, rows_loaded, loaded_at)``."""
    columns = ["table_name", "to_version", "rows_loaded", "loaded_at"]
    ranked = (exp.select(*[exp.column(ident(c)) for c in columns],
                         exp.alias_(exp.Window(this=exp.RowNumber(), partition_by=[exp.column(ident("table_name"))],
                                               order=exp.Order(expressions=[exp.Ordered(this=exp.column(ident("loaded_at")), desc=True)])),
                                    "rank_"))
              .from_(table(ledger(schema))))
    return (exp.select(*[exp.column(ident(c)) for c in columns]).from_(ranked.subquery("l"))
            .where(exp.EQ(this=exp.column("rank_"), expression=lit(1))).sql(dialect))


def lock(target: Target, dialect: str) -> str | None:
    """Serialise loaders on the ledger (PostgreSQL, Redshift); DuckDB has one writer anyway."""
    if dialect == "duckdb":
        return None
    return f"LOCK TABLE {table(target).sql(dialect)}" if dialect == "postgres" else f"LOCK {table(target).sql(dialect)}"


def table_columns(target: Target, dialect: str) -> str:
    """``(column_name, data_type)`` of a table, from information_schema, in table order."""
    where = exp.and_(
        exp.EQ(this=exp.column("table_schema"), expression=lit(target.schema)),
        exp.EQ(this=exp.column("table_name"), expression=lit(target.table)),
    )
    return (exp.select("column_name", "data_type").from_(exp.to_table("information_schema.columns"))
            .where(where).order_by("ordinal_position").sql(dialect))


def copy_from_manifest(into: Target, manifest_url: str, iam_role: str) -> str:
    """Redshift ``COPY into FROM 's3://.../manifest' IAM_ROLE '...' FORMAT AS PARQUET MANIFEST``
    (columns by position: ``into`` must have the files' columns in their order)."""
    return (f"COPY {table(into).sql('redshift')} FROM {lit(manifest_url).sql('redshift')} "
            f"IAM_ROLE {lit(iam_role).sql('redshift')} FORMAT AS PARQUET MANIFEST")


def copy_from_stdin(into: Target, columns: Sequence[str], *, binary: bool = False) -> str:
    """PostgreSQL ``COPY into (cols) FROM STDIN``: in PostgreSQL's binary format, or in CSV as
    pyarrow writes it (an unquoted empty field is NULL, ``""`` is the empty string)."""
    names = ", ".join(ident(c).sql("postgres") for c in columns)
    return f"COPY {table(into).sql('postgres')} ({names}) FROM STDIN WITH (FORMAT {'binary' if binary else 'csv'})"


def postgres_column_types() -> str:
    """PostgreSQL: ``(column, type)`` of the table named by the parameter (a quoted, possibly
    schema-qualified name; temporary tables too), in table order."""
    return ("SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
            "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum")


def set_query_group(group: str) -> str:
    """Redshift workload management: route this session's queries to ``group``."""
    return f"SET query_group TO {lit(group).sql('redshift')}"
