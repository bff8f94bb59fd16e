"""Warehouse adapters: SQL per dialect (parsed back), exactly-once loads into DuckDB and a real
PostgreSQL, schema evolution, S3 staging on moto, and the Redshift adapter's statements."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot

from lakehouse.errors import ConfigError, ExportError
from lakehouse.warehouse import REPLACE, Load, Target, WarehouseURL, open_warehouse
from lakehouse.warehouse import sql as q
from lakehouse.warehouse.redshift import RedshiftWarehouse
from lakehouse.warehouse.s3 import S3Location, S3Stage

HOSTILE = '"; drop table users; --'
KEYS = ("source_id", "id")
BASE = (("source_id", "string"), ("id", "string"), ("price", "bigint"), ("ts", "timestamp"), ("name", "string"),
        (HOSTILE, "string"))


def parquet(path, rows: dict, types: dict) -> str:
    table = pa.table({name: pa.array(values, types[name]) for name, values in rows.items()})
    pq.write_table(table, path)
    return str(path)


ARROW = {"string": pa.string(), "bigint": pa.int64(), "double": pa.float64(), "boolean": pa.bool_(),
         "timestamp": pa.timestamp("us", tz="UTC")}


def staged(tmp_path, name, columns, rows) -> str:
    types = {c: ARROW[t] for c, t in columns}
    return parquet(tmp_path / f"{name}.parquet", {c: [r[i] for r in rows] for i, (c, _) in enumerate(columns)}, types)


FIRST = [("s1", "a", 1, dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone.utc), "", "x"),
         ("s1", "b", None, None, None, None)]


# -- SQL ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dialect", q.DIALECTS)
def test_every_statement_quotes_hostile_names_and_parses_back(dialect):
    target = Target('an"alytics', "order completed")
    statements = [
        q.create_schema(target.schema, dialect),
        q.create_table(target, BASE, dialect, sort_key=("ts",), dist_key="id"),
        q.create_staging("stage_1", BASE, dialect),
        q.add_column(target, "Größe.with space", "double", dialect),
        *q.widen_column(target, "price", "bigint", "string", dialect),
        q.delete_matching(target, "stage_1", KEYS, dialect),
        q.insert_from(target, "stage_1", [c for c, _ in BASE], dialect),
        q.insert_from(target, "stage_1", [c for c, _ in BASE], dialect, unless="deleted; --"),
        q.insert_values(q.ledger(target.schema), {"table_name": "it's", "from_version": 1}, dialect),
        q.ledger_lookup(target.schema, "t", "silver/t#id", 0, 3, dialect),
    ]
    for statement in statements:
        parsed = sqlglot.parse_one(statement, read=dialect)
        assert not isinstance(parsed, sqlglot.exp.Command), statement
        assert not list(parsed.find_all(sqlglot.exp.Drop)) or statement.startswith("ALTER"), statement
    # The hostile names come back as single identifiers: quoted, never read as SQL.
    names = {i.name for s in statements for i in sqlglot.parse_one(s, read=dialect).find_all(sqlglot.exp.Identifier)}
    assert {HOSTILE, 'an"alytics', "order completed", "Größe.with space", "deleted; --"} <= names


def test_redshift_table_layout_copy_and_query_group_parse_as_redshift():
    create = q.create_table(Target("a", "tracks"), BASE, "redshift", sort_key=("ts",), dist_key="id")
    assert "DISTKEY(\"id\")" in create and "SORTKEY(\"ts\")" in create and "VARCHAR(65535)" in create
    copy = sqlglot.parse_one(q.copy_from_manifest(Target("", "stage_1"), "s3://b/p/manifest.json", "arn:aws:iam::1:role/it's"),
                             read="redshift")
    assert isinstance(copy, sqlglot.exp.Copy)
    assert copy.args["credentials"].args["iam_role"].name == "arn:aws:iam::1:role/it's"
    assert "MANIFEST" in copy.sql("redshift") and "PARQUET" in copy.sql("redshift")
    assert q.set_query_group("etl'x").endswith("'etl\\'x'") or q.set_query_group("etl'x").endswith("'etl''x'")


def test_widening_follows_the_lattice():
    assert q.widens("bigint", "double") and q.widens("bigint", "string") and q.widens("boolean", "string")
    assert not q.widens("string", "bigint") and not q.widens("double", "bigint") and not q.widens("bigint", "bigint")


# -- URLs ----------------------------------------------------------------------------------------

def test_urls_parse_and_refuse_passwords():
    assert WarehouseURL.parse("duckdb:///wh/file.duckdb").path == "wh/file.duckdb"
    assert WarehouseURL.parse("duckdb:////abs/file.duckdb").path == "/abs/file.duckdb"
    pg = WarehouseURL.parse("postgresql://ana@db.example:6543/analytics")
    assert (pg.dialect, pg.host, pg.port, pg.user, pg.database) == ("postgres", "db.example", 6543, "ana", "analytics")
    rs = WarehouseURL.parse("redshift://etl@wg.123.us-east-1.redshift-serverless.amazonaws.com/dev"
                            "?iam_role=arn:aws:iam::1:role/r&s3_staging=s3://bkt/stage")
    assert rs.port == 5439 and rs.params["s3_staging"] == "s3://bkt/stage"
    with pytest.raises(ConfigError, match="must not contain a password") as error:
        WarehouseURL.parse("postgresql://ana:hunter2@db/analytics")
    assert "hunter2" not in str(error.value)
    with pytest.raises(ConfigError, match="iam_role"):
        WarehouseURL.parse("redshift://etl@host/dev?s3_staging=s3://b/p")
    with pytest.raises(ConfigError, match="warehouse.url"):
        WarehouseURL.parse("mysql://x@y/z")


# -- loads into real databases ----------------------------------------------------------------------

@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path):
    if request.param == "duckdb":
        with open_warehouse(f"duckdb:///{tmp_path}/wh.duckdb") as wh:
            yield wh
    else:
        pg = request.getfixturevalue("postgres")
        schema_suffix = request.node.name.split("[")[0][-20:]
        with open_warehouse(pg.url, env={"LAKEHOUSE_WAREHOUSE_PASSWORD": pg.password}) as wh:
            wh.test_schema = f"t_{schema_suffix}"
            yield wh


def _schema(wh) -> str:
    return getattr(wh, "test_schema", "analytics")


def test_a_load_is_exactly_once_and_keeps_nulls_apart_from_empty_strings(warehouse, tmp_path):
    target = Target(_schema(warehouse), "order_completed")
    files = (staged(tmp_path, "first", BASE, FIRST),)
    first = warehouse.load(Load(target, "silver/order_completed", BASE, files, 0, 3, keys=KEYS))
    again = warehouse.load(Load(target, "silver/order_completed", BASE, files, 0, 3, keys=KEYS))
    assert (first.rows, first.skipped, again.rows, again.skipped) == (2, False, 0, True)
    rows = warehouse.query(q.exp.select("*").from_(q.table(target)).order_by("id").sql(warehouse.dialect))
    assert rows == [("s1", "a", 1, dt.datetime(2026, 1, 1, 12), "", "x"), ("s1", "b", None, None, None, None)]
    assert warehouse.last_version(target.schema, target.table) == 3
    ledger = warehouse.query(q.exp.select("table_name", "from_version", "to_version", "rows_loaded")
                             .from_(q.table(q.ledger(target.schema))).sql(warehouse.dialect))
    assert ledger == [("order_completed", 0, 3, 2)]


def test_new_columns_are_added_and_a_widened_type_keeps_old_values(warehouse, tmp_path):
    target = Target(_schema(warehouse), "order_completed")
    warehouse.load(Load(target, "t", BASE, (staged(tmp_path, "first", BASE, FIRST),), 0, 0, keys=KEYS))
    wider = tuple((c, "string" if c == "price" else t) for c, t in BASE) + (("coupon code", "boolean"),)
    second = [("s1", "b", "12 USD", None, "n", None, True), ("s1", "c", "3", None, "m", None, False)]
    result = warehouse.load(Load(target, "t", wider, (staged(tmp_path, "second", wider, second),), 1, 1, keys=KEYS))
    assert (result.rows, result.columns_added, result.columns_widened) == (2, ("coupon code",), ("price",))
    assert dict(warehouse.columns(target))["price"] == "string"
    rows = warehouse.query(q.exp.select("id", "price", q.exp.column(q.ident("coupon code")))
                           .from_(q.table(target)).order_by("id").sql(warehouse.dialect))
    assert rows == [("a", "1", None), ("b", "12 USD", True), ("c", "3", False)]


def test_a_merge_deletes_the_keys_flagged_deleted_and_loads_the_rest(warehouse, tmp_path):
    target = Target(_schema(warehouse), "order_completed")
    warehouse.load(Load(target, "t", BASE, (staged(tmp_path, "first", BASE, FIRST),), 0, 0, keys=KEYS))
    flagged = BASE + (("_lakehouse_deleted", "boolean"),)
    changes = [("s1", "a", 9, None, "n", None, False),  # updated
               ("s1", "b", None, None, None, None, True),  # deleted in the lake
               ("s1", "z", None, None, None, None, True)]  # deleted before it was ever loaded
    result = warehouse.load(Load(target, "t", flagged, (staged(tmp_path, "second", flagged, changes),), 1, 1,
                                 keys=KEYS, deleted_column="_lakehouse_deleted"))
    assert (result.rows, result.rows_deleted) == (1, 2)
    assert warehouse.query(q.exp.select("id", "price").from_(q.table(target)).sql(warehouse.dialect)) == [("a", 9)]
    assert "_lakehouse_deleted" not in dict(warehouse.columns(target))
    with pytest.raises(ValueError, match="boolean column of a merge load"):
        Load(target, "t", flagged, (), 2, 2, mode=REPLACE, deleted_column="_lakehouse_deleted")


def test_replace_mode_swaps_the_whole_table_and_a_failed_load_changes_nothing(warehouse, tmp_path):
    target = Target(_schema(warehouse), "daily_active_users")
    columns = (("day", "string"), ("users", "bigint"))
    warehouse.load(Load(target, "gold/dau", columns, (staged(tmp_path, "a", columns, [("d1", 5), ("d2", 6)]),),
                        0, 0, mode=REPLACE))
    warehouse.load(Load(target, "gold/dau", columns, (staged(tmp_path, "b", columns, [("d2", 7)]),), 1, 1, mode=REPLACE))
    select = q.exp.select("day", "users").from_(q.table(target)).order_by("day").sql(warehouse.dialect)
    assert warehouse.query(select) == [("d2", 7)]
    missing = str(tmp_path / "missing.parquet")
    with pytest.raises(ExportError, match="daily_active_users") as error:
        warehouse.load(Load(target, "gold/dau", columns, (missing,), 2, 2, mode=REPLACE))
    assert "s3cret" not in str(error.value) and "rolled back" in str(error.value)
    assert warehouse.query(select) == [("d2", 7)]
    assert warehouse.last_version(target.schema, target.table) == 1


def test_postgres_copies_in_binary_cast_to_the_table_and_in_csv_for_a_type_of_its_own(postgres, tmp_path):
    from lakehouse.warehouse.postgres import binary_schema

    columns = (("id", "string"), ("n", "bigint"), ("x", "double"), ("ok", "boolean"), ("day", "date"),
               ("ts", "timestamp"), ("note", "string"))
    types = dict(ARROW, date=pa.date32())
    row = ("a", 2**40, 0.1, True, dt.date(2026, 11, 27), dt.datetime(2026, 11, 27, 8, 30, 0, 123456, tzinfo=dt.timezone.utc),
           "é \\ \"q\" \n \t ,;")
    files = (parquet(tmp_path / "r.parquet", {c: [v, None] for (c, _), v in zip(columns, row)},
                     {c: types[t] for c, t in columns}),)
    select = "SELECT id, n, x, ok, day, ts, note FROM bin.t ORDER BY id NULLS LAST"
    with open_warehouse(postgres.url, env={"LAKEHOUSE_WAREHOUSE_PASSWORD": postgres.password}) as wh:
        wh.load(Load(Target("bin", "t"), "lake/t", columns, files, 0, 0, mode=REPLACE))
        expected = [row[:5] + (dt.datetime(2026, 11, 27, 8, 30, 0, 123456),) + row[6:], (None,) * 7]
        assert wh.query(select) == expected
        # A table whose columns are wider than the files (n as text) gets the files cast to them.
        with wh.connection.cursor() as cursor:
            cursor.execute("ALTER TABLE bin.t ALTER COLUMN n TYPE text")
            wh.connection.commit()
        wh.load(Load(Target("bin", "t"), "lake/t", columns, files, 1, 1, mode=REPLACE))
        assert wh.query("SELECT n FROM bin.t ORDER BY id NULLS LAST") == [(str(2**40),), (None,)]
        # A column of a type the lake does not write (numeric, set by hand): the load goes as CSV.
        with wh.connection.cursor() as cursor:
            cursor.execute("ALTER TABLE bin.t ALTER COLUMN x TYPE numeric USING x::numeric")
            wh.connection.commit()
        assert binary_schema(["x"], {"x": "numeric"}) is None
        wh.load(Load(Target("bin", "t"), "lake/t", columns, files, 2, 2, mode=REPLACE))
        assert [(str(n), str(x)) for n, x in wh.query("SELECT n, x FROM bin.t WHERE id = 'a'")] == [(str(2**40), "0.1")]


def test_postgres_streams_files_in_small_batches_and_keeps_every_row(postgres, tmp_path, monkeypatch):
    from lakehouse.warehouse import postgres as pg_module

    # ~1 KB rows, two files of 3,000 rows read 2,000 at a time, sent in batches of about 100 KB.
    monkeypatch.setattr(pg_module, "_BATCH_BYTES", 100 * 1024)
    monkeypatch.setattr(pg_module, "_READ_ROWS", 2_000)
    columns = (("id", "bigint"), ("text", "string"))
    files = tuple(parquet(tmp_path / f"p{f}.parquet", {"id": list(range(f * 3_000, (f + 1) * 3_000)),
                                                      "text": [f"{i:04d}" + "x" * 1_000 for i in range(3_000)]},
                          {"id": pa.int64(), "text": pa.string()}) for f in range(2))
    batches = list(pg_module._batches(files, ["id", "text"]))
    assert len(batches) >= 60 and max(b.nbytes for b in batches) <= 110 * 1024
    assert pa.Table.from_batches(batches).column("id").to_pylist() == list(range(6_000))
    with open_warehouse(postgres.url, env={"LAKEHOUSE_WAREHOUSE_PASSWORD": postgres.password}) as wh:
        wh.load(Load(Target("batched", "t"), "lake/t", columns, files, 0, 0, mode=REPLACE))
        assert wh.query("SELECT count(*), count(DISTINCT id), min(id), max(id), sum(length(text)) FROM batched.t") == [
            (6_000, 6_000, 0, 5_999, 6_000 * 1_004)]


# -- S3 staging and the Redshift adapter ----------------------------------------------------------------

def test_s3_stage_uploads_files_and_a_manifest_with_content_lengths(s3_endpoint, tmp_path):
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket="stage-bucket")
    files = [staged(tmp_path, f"f{i}", BASE, FIRST) for i in range(2)]
    stage = S3Stage(S3Location.parse("s3://stage-bucket/exports/"), client)
    manifest_url, keys = stage.upload(files, "stage_1")
    manifest = json.loads(client.get_object(Bucket="stage-bucket", Key=keys[-1])["Body"].read())
    assert manifest_url == f"s3://stage-bucket/{keys[-1]}" and len(manifest["entries"]) == 2
    for entry, key in zip(manifest["entries"], keys):
        head = client.head_object(Bucket="stage-bucket", Key=key)
        assert entry["mandatory"] and entry["meta"]["content_length"] == head["ContentLength"]
    stage.remove(keys)
    assert client.list_objects_v2(Bucket="stage-bucket").get("KeyCount", 0) == 0


class _RecordingCursor:
    """Stands in for a Redshift session (unreachable here) and records the SQL the adapter sends."""

    def __init__(self, log):
        self.log, self._rows = log, []

    def execute(self, statement, params=None):
        self.log.append(statement)
        self._rows = [(2,)] if statement.startswith("SELECT COUNT(*)") else []

    def fetchall(self):
        return self._rows

    def close(self):
        pass


class _RecordingConnection:
    def __init__(self):
        self.statements, self.commits = [], 0

    def cursor(self):
        return _RecordingCursor(self.statements)

    def commit(self):
        self.commits += 1

    def rollback(self):
        pass

    def close(self):
        pass


def test_redshift_load_sends_valid_redshift_sql_and_cleans_its_staging(s3_endpoint, tmp_path):
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket="rs-stage")
    wh = RedshiftWarehouse("example", 5439, "dev", "etl", iam_role="arn:aws:iam::1:role/copy",
                           stage=S3Stage(S3Location.parse("s3://rs-stage/p"), client), password="never-shown")
    wh._connection = _RecordingConnection()
    target = Target("analytics", "order_completed")
    load = Load(target, "silver/order_completed", BASE, (staged(tmp_path, "f", BASE, FIRST),), 4, 9, keys=KEYS,
                sort_key=("ts",), dist_key="id")
    assert wh.load(load).rows == 2
    statements = wh._connection.statements
    kinds = []
    for statement in statements:
        parsed = sqlglot.parse_one(statement, read="redshift")
        kinds.append(type(parsed).__name__)
        assert "never-shown" not in statement
    assert kinds.count("Copy") == 1 and kinds.count("Delete") == 1 and kinds.count("Insert") == 2
    copy = next(s for s in statements if s.startswith("COPY"))
    assert "IAM_ROLE 'arn:aws:iam::1:role/copy'" in copy and "s3://rs-stage/p/stage_" in copy
    assert any(s.startswith('LOCK "analytics"."_lakehouse_loads"') for s in statements)
    assert any("SORTKEY(\"ts\")" in s and "DISTKEY(\"id\")" in s for s in statements)
    assert client.list_objects_v2(Bucket="rs-stage").get("KeyCount", 0) == 0  # staged files removed
