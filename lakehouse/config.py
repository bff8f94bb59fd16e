"""Configuration: embedded defaults, one TOML file, then ``LAKEHOUSE_*`` environment overrides.

Every key lives in a section (``[lake] dir``) and can be overridden by the environment variable
``LAKEHOUSE_<SECTION>_<KEY>`` (``LAKEHOUSE_LAKE_DIR``). The file is named by ``--config FILE`` or
``LAKEHOUSE_CONFIG``. Config is built once at the edge (the command line, a notebook, a test) and
passed down as frozen dataclasses; library code never reads the environment itself.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from lakehouse.errors import ConfigError

ENV_PREFIX = "LAKEHOUSE_"
CONFIG_ENV = "LAKEHOUSE_CONFIG"

# Delta Lake for Spark 4.2 / Scala 2.13. delta-spark 4.4.1 is on PyPI but its jars never reached
# Maven Central, so the Python package and the jars are pinned together at 4.4.0.
DELTA_PACKAGES = (
    "io.delta:delta-spark_4.2_2.13:4.4.0",
    "io.delta:delta-storage:4.4.0",
)
JARS_SOURCES = ("dir", "packages", "provided")


@dataclass(frozen=True)
class LakeConfig:
    """Where the tables live: a local folder or an ``s3a://`` URI."""

    dir: str = "./lake"
    # A Spark catalog schema (``lakehouse``, ``glue.analytics``) to register every table in as
    # ``<layer>_<table>`` (external, at its path); empty: tables are reached by path only.
    catalog: str = ""


@dataclass(frozen=True)
class LandingConfig:
    """The landing folder of JSON-lines files (plain or ``.gz``) that bronze reads."""

    dir: str = "./landing"
    # What happens to a file once bronze committed it: "off" keeps it, "archive" moves it to
    # archive_dir, "delete" removes it (Spark's cleanSource).
    clean_source: str = "off"
    archive_dir: str = ""


@dataclass(frozen=True)
class SparkConfig:
    """How the Spark session is built; usable unchanged under ``spark-submit``."""

    master: str = "local[*]"
    app_name: str = "clickstream-lakehouse"
    driver_memory: str = "4g"
    shuffle_partitions: int = 8
    # Where the Delta (and later connector) jars come from: "dir" = jar files in jars_dir
    # (fetched once by `lakehouse jars fetch`, no network at run time), "packages" = Maven
    # coordinates resolved by Spark, "provided" = spark-submit or the cluster supplies them.
    jars_source: str = "dir"
    jars_dir: str = "~/.cache/lakehouse/jars"
    packages: tuple[str, ...] = DELTA_PACKAGES
    # Extra Spark confs, e.g. {"spark.hadoop.fs.s3a.endpoint" = "..."}; file only.
    conf: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BronzeConfig:
    """The bronze ingest stream."""

    trigger_seconds: int = 10
    # Bounds a catch-up batch. Measured at 1M events: 20 files (200k events) per batch ran at 0.25
    # of the ceiling, 50 files at 0.36-0.42; each batch pays fixed costs (a second pass, three commits).
    max_files_per_trigger: int = 50
    # Segment's own limits: 32 KB per message, 500 KB per batch request.
    max_event_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    # Tenant id for messages that carry no writeKey.
    default_source_id: str = "default"
    checkpoint_dir: str = ""  # default: <lake>/_checkpoints/bronze


@dataclass(frozen=True)
class SilverConfig:
    """The silver job: bronze.events -> flattened Segment tables."""

    # Silver commits once per table a batch touches (up to hundreds of event tables), so it
    # triggers less often than bronze; "up to date within minutes".
    trigger_seconds: int = 60
    # Bronze files read per micro-batch (Delta source maxFilesPerTrigger).
    max_files_per_trigger: int = 1000
    # Columns per table before new paths go to the _overflow JSON column (Redshift allows 1,600).
    max_columns: int = 1000
    # How far back (days of received_at) a message id is looked up to drop a resent duplicate.
    dedup_lookback_days: int = 7
    # Tables written at once; their commits overlap instead of queueing one after another.
    write_parallelism: int = 4
    checkpoint_dir: str = ""  # default: <lake>/_checkpoints/silver


@dataclass(frozen=True)
class GoldConfig:
    """The gold models."""

    # Inactivity that ends a session.
    session_gap_minutes: int = 30


@dataclass(frozen=True)
class QualityConfig:
    """The quality gate."""

    # Folder of <layer>.<table>.yaml files with extra checks per table (see quality/checks.py).
    suites_dir: str = ""
    # Default: <lake>/quality/history and <lake>/reports.
    history_path: str = ""
    reports_dir: str = ""
    # How far an event's timestamp may lie after its received_at (client clock skew) unflagged.
    skew_minutes: int = 24 * 60
    # Freshness objective: the newest received_at of a table at most this old.
    max_lag_minutes: int = 24 * 60
    # Tables validated at the same time (threads sharing the Spark session; 1 = one by one).
    parallel_tables: int = 3


@dataclass(frozen=True)
class WarehouseConfig:
    """Where ``lakehouse export`` loads: a DuckDB file, PostgreSQL or Redshift, by URL."""

    # duckdb:///file.duckdb | postgresql://user@host:5432/db |
    # redshift://user@host:5439/db?iam_role=arn:...&s3_staging=s3://bucket/prefix
    url: str = "duckdb:///warehouse.duckdb"
    # Target schema of every table (tenants not routed elsewhere).
    schema: str = "analytics"
    # The environment variable holding the database password (never in the URL or this file).
    password_env: str = "LAKEHOUSE_WAREHOUSE_PASSWORD"
    # Tenant (source id) -> its own schema, and -> its own warehouse URL; file only.
    tenant_schemas: Mapping[str, str] = field(default_factory=dict)
    tenant_urls: Mapping[str, str] = field(default_factory=dict)
    # Redshift workload-management queue for the loads.
    query_group: str = "lakehouse"
    # An S3-compatible endpoint for the staging bucket (MinIO, tests); empty: AWS.
    s3_endpoint_url: str = ""
    # Local folder for staged Parquet files; default <lake>/_staging/export.
    staging_dir: str = ""
    # Rows per staged Parquet file (Redshift loads files in parallel, one per slice).
    file_rows: int = 500_000
    # Tables staged at once (Spark jobs side by side); the loads themselves run one at a time.
    stage_parallelism: int = 4


@dataclass(frozen=True)
class MaintainConfig:
    """``lakehouse maintain``: compaction and cleanup of every table."""

    # Partitions (days of received_date) that OPTIMIZE compacts; older ones were compacted before.
    recent_days: int = 2
    # VACUUM keeps the files of this many hours of versions; at least 168 (streams that were down
    # read the versions they missed).
    vacuum_retention_hours: int = 168


@dataclass(frozen=True)
class StatusConfig:
    """``lakehouse status``."""

    # Freshness objective of bronze.events and silver.tracks (newest received_at at most this old);
    # 0: none. When missed, `lakehouse status` exits 4.
    max_lag_minutes: int = 0


@dataclass(frozen=True)
class DemoConfig:
    """``lakehouse demo``: the generated traffic (``--events``/``--seed`` override)."""

    events: int = 50_000
    seed: int = 42


@dataclass(frozen=True)
class Config:
    """The whole configuration; build it with :func:`load_config`."""

    lake: LakeConfig = field(default_factory=LakeConfig)
    landing: LandingConfig = field(default_factory=LandingConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    bronze: BronzeConfig = field(default_factory=BronzeConfig)
    silver: SilverConfig = field(default_factory=SilverConfig)
    gold: GoldConfig = field(default_factory=GoldConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    warehouse: WarehouseConfig = field(default_factory=WarehouseConfig)
    maintain: MaintainConfig = field(default_factory=MaintainConfig)
    status: StatusConfig = field(default_factory=StatusConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build the configuration from defaults, an optional TOML file and the environment.

    Args:
        path: A TOML file; if None, ``LAKEHOUSE_CONFIG`` names it, else defaults only.
        env: The environment to read overrides from (``os.environ`` if None).

    Returns:
        The validated, frozen configuration.

    Raises:
        ConfigError: the file is missing or malformed, a key is unknown, or a value is invalid.
    """
    env = os.environ if env is None else env
    path = path or env.get(CONFIG_ENV) or None
    values: dict[str, dict[str, Any]] = {}
    if path is not None:
        values = _read_toml(Path(path))
    sections = {}
    for section_field in dataclasses.fields(Config):
        section_cls = _SECTIONS[section_field.name]
        from_file = values.pop(section_field.name, {})
        if not isinstance(from_file, dict):
            raise ConfigError(f"[{section_field.name}] in {path} must be a table of keys, not {from_file!r}")
        sections[section_field.name] = _build_section(section_field.name, section_cls, from_file, env, path)
    if values:
        unknown = ", ".join(sorted(values))
        raise ConfigError(f"unknown section(s) {unknown} in {path}; known: {', '.join(_SECTIONS)}")
    config = Config(**sections)
    validate(config)
    return config


_SECTIONS = {
    "lake": LakeConfig,
    "landing": LandingConfig,
    "spark": SparkConfig,
    "bronze": BronzeConfig,
    "silver": SilverConfig,
    "gold": GoldConfig,
    "quality": QualityConfig,
    "warehouse": WarehouseConfig,
    "maintain": MaintainConfig,
    "status": StatusConfig,
    "demo": DemoConfig,
}


def env_var(section: str, key: str) -> str:
    """The environment variable that overrides ``[section] key``."""
    return f"{ENV_PREFIX}{section}_{key}".upper()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; fix --config or {CONFIG_ENV}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _build_section(name: str, cls: type, from_file: dict[str, Any], env: Mapping[str, str], path) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(from_file) - known
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(
            f"unknown key '{name}.{key}' in {path}; known keys of [{name}]: {', '.join(sorted(known))}"
        )
    kwargs = {}
    for key in known:
        var = env_var(name, key)
        if var in env and not _is_mapping(hints[key]):
            kwargs[key] = _coerce(f"{name}.{key}", hints[key], env[var], source=var)
        elif key in from_file:
            kwargs[key] = _coerce(f"{name}.{key}", hints[key], from_file[key], source=str(path))
    return cls(**kwargs)


def _is_mapping(hint: Any) -> bool:
    return typing.get_origin(hint) in (collections.abc.Mapping, dict)


def _coerce(key: str, hint: Any, value: Any, source: str) -> Any:
    """Turn a TOML or environment value into the field's type, or say which key is wrong."""
    origin = typing.get_origin(hint)
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if hint is int:
            if isinstance(value, bool) or not str(value).strip().lstrip("-").isdigit():
                raise ValueError("expected an integer")
            return int(value)
        if hint is float:
            try:
                return float(value)
            except (TypeError, ValueError):
                raise ValueError("expected a number") from None
        if hint is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError("expected a string")
            return str(value)
        if origin is tuple:
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)):
                raise ValueError("expected a list of strings")
            return tuple(str(item).strip() for item in items if str(item).strip())
        if _is_mapping(hint):
            if not isinstance(value, dict):
                raise ValueError("expected a table of strings")
            return types.MappingProxyType({str(k): str(v) for k, v in value.items()})
    except ValueError as exc:
        raise ConfigError(f"bad value for '{key}' (from {source}): {exc}; got {value!r}") from None
    raise ConfigError(f"'{key}' has an unsupported type {hint}")  # a bug in this module, not input


def with_values(config: Config, **sections: Mapping[str, Any]) -> Config:
    """A validated copy of ``config`` with some keys changed.

    Example: ``with_values(config, bronze={"trigger_seconds": 1})``. For command-line flags and
    tests; a wrong value raises :class:`ConfigError` as it would from the file.
    """
    changed = {name: dataclasses.replace(getattr(config, name), **values) for name, values in sections.items()}
    result = dataclasses.replace(config, **changed)
    validate(result)
    return result


def validate(config: Config) -> None:
    checks = [
        (config.lake.dir.strip() != "", "lake.dir", "must not be empty; set LAKEHOUSE_LAKE_DIR"),
        (config.landing.dir.strip() != "", "landing.dir", "must not be empty; set LAKEHOUSE_LANDING_DIR"),
        (re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?", config.lake.catalog) is not None,
         "lake.catalog", "must be empty or a schema name such as lakehouse or glue.analytics"),
        (config.landing.clean_source in ("off", "archive", "delete"), "landing.clean_source",
         "must be off, archive or delete"),
        (config.landing.clean_source != "archive" or config.landing.archive_dir, "landing.archive_dir",
         "is required when landing.clean_source = archive"),
        (config.spark.master.strip() != "", "spark.master", "must be a Spark master URL such as local[*]"),
        (config.spark.jars_source in JARS_SOURCES, "spark.jars_source", f"must be one of {', '.join(JARS_SOURCES)}"),
        (config.spark.shuffle_partitions > 0, "spark.shuffle_partitions", "must be positive"),
        (config.bronze.trigger_seconds > 0, "bronze.trigger_seconds", "must be a positive number of seconds"),
        (config.demo.events > 0, "demo.events", "must be a positive number of events"),
        (config.bronze.max_files_per_trigger > 0, "bronze.max_files_per_trigger", "must be positive"),
        (config.bronze.max_event_bytes > 0, "bronze.max_event_bytes", "must be positive"),
        (config.bronze.max_batch_bytes >= config.bronze.max_event_bytes, "bronze.max_batch_bytes",
         "must be at least bronze.max_event_bytes"),
        (config.bronze.default_source_id.strip() != "", "bronze.default_source_id", "must not be empty"),
        (config.silver.trigger_seconds > 0, "silver.trigger_seconds", "must be a positive number of seconds"),
        (config.silver.max_files_per_trigger > 0, "silver.max_files_per_trigger", "must be positive"),
        (50 <= config.silver.max_columns <= 1600, "silver.max_columns", "must be between 50 and 1600 (Redshift's limit)"),
        (config.silver.dedup_lookback_days >= 0, "silver.dedup_lookback_days", "must be 0 or more days"),
        (1 <= config.silver.write_parallelism <= 64, "silver.write_parallelism", "must be between 1 and 64"),
        (config.gold.session_gap_minutes > 0, "gold.session_gap_minutes", "must be a positive number of minutes"),
        (config.quality.skew_minutes >= 0, "quality.skew_minutes", "must be 0 or more minutes"),
        (config.quality.max_lag_minutes > 0, "quality.max_lag_minutes", "must be a positive number of minutes"),
        (1 <= config.quality.parallel_tables <= 16, "quality.parallel_tables", "must be between 1 and 16"),
        (config.status.max_lag_minutes >= 0, "status.max_lag_minutes", "must be 0 (no objective) or more minutes"),
        (config.maintain.recent_days >= 0, "maintain.recent_days", "must be 0 or more days"),
        (config.maintain.vacuum_retention_hours >= 168, "maintain.vacuum_retention_hours",
         "must be at least 168 (7 days): a stream that was down reads the versions it missed"),
        (config.warehouse.schema.strip() != "", "warehouse.schema", "must name a schema such as analytics"),
        (all(s.strip() for s in config.warehouse.tenant_schemas.values()), "warehouse.tenant_schemas",
         "must map each source id to a non-empty schema name"),
        (config.warehouse.password_env.strip() != "", "warehouse.password_env", "must name an environment variable"),
        (config.warehouse.file_rows > 0, "warehouse.file_rows", "must be positive"),
        (1 <= config.warehouse.stage_parallelism <= 32, "warehouse.stage_parallelism", "must be between 1 and 32"),
    ]
    for ok, key, message in checks:
        if not ok:
            section, name = key.split(".")
            raise ConfigError(f"'{key}' {message} (config key [{section}] {name}, env {env_var(section, name)})")
    from lakehouse.warehouse import WarehouseURL  # the URL grammar lives with the adapters

    WarehouseURL.parse(config.warehouse.url, "warehouse.url")
    for source_id, url in config.warehouse.tenant_urls.items():
        WarehouseURL.parse(url, f"warehouse.tenant_urls.{source_id}")


def describe(config: Config) -> list[tuple[str, str, Any]]:
    """Every key as (``section.key``, environment variable, value), for docs and ``--help``."""
    rows = []
    for section_field in dataclasses.fields(config):
        section = getattr(config, section_field.name)
        for key_field in dataclasses.fields(section):
            rows.append((f"{section_field.name}.{key_field.name}", env_var(section_field.name, key_field.name),
                         getattr(section, key_field.name)))
    return rows
