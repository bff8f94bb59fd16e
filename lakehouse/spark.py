"""The one Spark session builder: Delta configured, quiet, the same under ``spark-submit``.

Local runs get ``local[*]``, a driver memory and few shuffle partitions; on a cluster the master,
memory and jars come from ``spark-submit`` (``spark.jars_source = "provided"``) and the confs set
here are only the ones a Delta lakehouse needs. Library code receives the session as an argument;
only job entry points, notebooks and tests call :func:`build_session`.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from importlib import resources
from typing import Any, Iterator, Mapping, Sequence

from py4j.protocol import Py4JError
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse.config import SparkConfig
from lakehouse.jars import jar_paths, jvm_jar_path

DELTA_CONFS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# Sensible for a lakehouse anywhere: UTC everywhere, no console progress bars in logs, few
# partitions when Delta rebuilds a table snapshot (the default 50 costs seconds on small tables).
BASE_CONFS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.databricks.delta.snapshotPartitions": "4",
    "spark.sql.streaming.stopTimeout": "60s",
    # int64 timestamps, not the legacy INT96 default, which Parquet dictionary-encodes as 12-byte
    # binaries (top of a profile of bronze's write pass; a warm 500k-event pass went from 7.3-7.9 s
    # to 6.2-6.6 s). Every reader here takes both.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # New tables record their changes, so the export reads only what changed since its last load
    # (appends cost nothing extra; a MERGE also writes its changed rows to _change_data).
    "spark.databricks.delta.properties.defaults.enableChangeDataFeed": "true",
    # PySpark's DataFrame debugging records the Python call site of every DataFrame and Column call
    # for the query context of error messages, at three JVM round trips a call. The jobs build their
    # expressions per batch and per table; off, 2,000 ``when`` expressions take 3.3-4.2 s to build
    # instead of 14.8-18.0 s. Set it to "true" in ``spark.conf`` to see call sites in errors.
    "spark.python.sql.dataFrameDebugging.enabled": "false",
    # Spark keeps compiled classes of generated code in a cache of 100 by default; one silver batch
    # needs ~200 (Delta's own queries, each table's write), so every batch compiled them all again.
    # Five small batches of the same shape (tracks, pages, identifies, 3 event tables): 197-199
    # classes and 0.9-1.3 s of compiling a batch with 100 entries; 3 classes and 0.06-0.09 s with
    # 1,000 (static: set before the session starts). A class is a few to ~100 KB of driver memory.
    "spark.sql.codegen.cache.maxEntries": "1000",
}


def session_confs(config: SparkConfig) -> dict[str, str]:
    """All Spark confs the session is built with, as plain strings (pure, for tests and docs)."""
    confs = dict(DELTA_CONFS)
    confs.update(BASE_CONFS)
    confs["spark.sql.shuffle.partitions"] = str(config.shuffle_partitions)
    if config.jars_source == "dir":
        confs["spark.jars"] = ",".join([*jar_paths(config.jars_dir, config.packages), jvm_jar_path(config.jars_dir)])
    elif config.jars_source == "packages":
        confs["spark.jars.packages"] = ",".join(config.packages)
        confs["spark.jars"] = jvm_jar_path(config.jars_dir)
    if config.master.startswith("local"):
        confs["spark.driver.memory"] = config.driver_memory
        confs["spark.ui.enabled"] = "false"
        log_conf = resources.files("lakehouse").joinpath("log4j2.properties")
        confs["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile=file:{log_conf}"
    confs.update(config.conf)
    return confs


def build_session(config: SparkConfig) -> SparkSession:
    """Get or create the Spark session with Delta Lake configured.

    Under ``spark-submit`` the session already exists and keeps its master and jars; the runtime
    confs set here still apply.

    Raises:
        SetupError: the jars are not in ``spark.jars_dir`` (run ``lakehouse jars fetch``).
    """
    if config.master.startswith("local"):
        # Without this Spark warns that the hostname resolves to a loopback address.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers (a UDF an analyst writes in a notebook) run this interpreter, with this
        # environment's packages, not the first ``python3`` on the PATH. PySpark reads the
        # variable when the context starts (the ``spark.pyspark.python`` conf does not reach UDFs).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(config.app_name)
    if config.jars_source != "provided":
        builder = builder.master(config.master)
    for key, value in session_confs(config).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    quiet_py4j_retries()
    return session


class _Py4JRetryFilter(logging.Filter):
    """Drops py4j's note that it is resending a command on a fresh connection.

    When a pooled connection to the JVM was closed (its Python thread ended, as the threads of
    :func:`lakehouse.delta.map_parallel` do), py4j sends the next command again on a new one and
    says so through the *root* logger at INFO, with a two-exception traceback
    (``ConnectionResetError`` ... ``Py4JNetworkError: Error while sending``), which reads like a
    failure in a job's log. Only that note goes: py4j logs a send that failed for good at ERROR.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno < logging.WARNING and record.msg == "Exception while sending command.")


def quiet_py4j_retries() -> None:
    """Install :class:`_Py4JRetryFilter` on the root logger (once)."""
    root = logging.getLogger()
    if not any(isinstance(f, _Py4JRetryFilter) for f in root.filters):
        root.addFilter(_Py4JRetryFilter())


@contextmanager
def confs_set(spark: SparkSession, confs: Mapping[str, str]) -> Iterator[None]:
    """Set runtime SQL confs on ``spark`` for the ``with`` block, then restore what was there.

    For a ``foreachBatch`` function's session this touches only its own query: Structured
    Streaming runs each query on a clone of the session.
    """
    previous = {key: spark.conf.get(key, None) for key in confs}
    for key, value in confs.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def local_frame(spark: SparkSession, rows: Sequence[Mapping[str, Any] | Sequence[Any]],
                schema: StructType) -> DataFrame:
    """A DataFrame of a few driver-side rows (dicts by field name, tuples in ``schema``'s order),
    handed to the JVM as Arrow: what ``spark.createDataFrame(rows, schema)`` gives, without its job.

    ``createDataFrame`` of a Python list pickles the rows and unpickles them in a Spark job run by a
    Python worker; the first such job of a process starts the worker. Measured on a fresh session
    (20 rows, 5 columns, then a write): 2.5 s the first time, 0.15-0.24 s after; from Arrow
    0.64 s, then 0.09-0.1 s. The first gate of a process wrote its record that way in 2.0 s.
    Timestamps without a time zone are read as the session's (UTC), as Spark SQL reads them.
    """
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    arrow_schema = to_arrow_schema(schema, timezone="UTC")
    names = schema.names
    tuples = [tuple(row.get(name) for name in names) if isinstance(row, Mapping) else tuple(row) for row in rows]
    if any(len(row) != len(names) for row in tuples):
        raise ValueError(f"rows must have the {len(names)} fields of {schema.simpleString()}")
    columns = list(zip(*tuples)) if tuples else [() for _ in names]
    table = pa.Table.from_arrays([pa.array(column, type=field.type) for column, field in zip(columns, arrow_schema)],
                                 schema=arrow_schema)
    return spark.createDataFrame(table, schema)


def with_constants(df: DataFrame, row: Mapping[str, Any] | Sequence[Any], schema: StructType) -> DataFrame:
    """``df`` with ``schema``'s columns added, holding ``row``'s values on every row.

    What ``F.lit`` would give, from a broadcast one-row frame instead. Spark writes a bigint or
    timestamp literal into the generated Java code, so a value that changes every micro-batch (its
    id, its time) made each batch compile new classes and start their hot loops again in the JVM's
    interpreter. Joined, the value is data and the code stays the same from batch to batch.
    Aware datetimes are taken in UTC; naive ones as UTC too (see :func:`local_frame`).
    """
    return df.crossJoin(F.broadcast(local_frame(df.sparkSession, [row], schema)))


def observed_scalars(observation: Observation, names: Sequence[str]) -> dict[str, Any]:
    """Some scalar fields of an observation's row (numbers, text, null), read in the JVM.

    ``Observation.get`` pickles the whole row to Python, arrays of structs included (see
    :func:`observed_rows`); this reads only ``names``. Falls back to ``get`` if PySpark's internals
    change shape.
    """
    try:
        jrow = observation._jo.getRow()  # noqa: SLF001 - see the docstring
        indexes = {name: jrow.fieldIndex(name) for name in names}
        return {name: None if jrow.isNullAt(index) else jrow.get(index) for name, index in indexes.items()}
    except (AttributeError, Py4JError):
        row = observation.get
        return {name: row[name] for name in names}


def observed_rows(spark: SparkSession, observation: Observation, field: str,
                  schema: StructType) -> tuple[DataFrame, int]:
    """The array of structs an observation collected in ``field``: a DataFrame of ``schema``, and
    its row count (known without a Spark job).

    Built in the JVM from the observed row: ``Observation.get`` pickles the whole row to Python
    first, which for a few thousand rejected records with 40 KB texts took 1.6 s of a 6 s pass;
    this way takes 0.02 s. Falls back to that path if PySpark's internals change shape.
    """
    try:
        jrow = observation._jo.getRow()  # noqa: SLF001 - see the docstring
        jrows = jrow.getList(jrow.fieldIndex(field))
        jschema = spark._jvm.org.apache.spark.sql.types.DataType.fromJson(schema.json())
        return DataFrame(spark._jsparkSession.createDataFrame(jrows, jschema), spark), int(jrows.size())
    except (AttributeError, Py4JError):
        rows = observation.get[field] or []
        return local_frame(spark, rows, schema), len(rows)
