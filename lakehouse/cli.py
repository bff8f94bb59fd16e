"""The ``lakehouse`` command line: one entry point, a subcommand per job.

The core owns the parser and the commands that need no layer (``generate``, ``jars``,
``config``, ``demo``). Each layer adds its own subcommands through the ``lakehouse.commands``
entry-point group (see pyproject.toml), so this module never imports a layer; ``demo`` runs the
layers' commands by name.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import entry_points
from typing import Callable, Sequence

from lakehouse.config import Config, describe, load_config
from lakehouse.errors import LakehouseError

log = logging.getLogger("lakehouse")
ENTRY_POINT_GROUP = "lakehouse.commands"


@dataclass
class Context:
    """What every command gets: the config, and the Spark session built on first use."""

    config: Config
    _spark: object = field(default=None, repr=False)

    def spark(self):
        if self._spark is None:
            from lakehouse.spark import build_session

            log.info("starting Spark (%s)", self.config.spark.master)
            self._spark = build_session(self.config.spark)
        return self._spark


Command = Callable[[argparse.Namespace, Context], int | None]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lakehouse",
        description="Clickstream lakehouse: Segment-spec events -> bronze -> silver -> gold -> warehouse.",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML config file (default: $LAKEHOUSE_CONFIG, else built-in defaults)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _register_core(commands)
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        entry_point.load()(commands)
    return parser


def _register_core(commands) -> None:
    gen = commands.add_parser("generate", help="write synthetic Segment-spec clickstream into the landing folder",
                              description="Write realistic, seeded Segment-spec traffic as JSON-lines files.")
    add_generate_arguments(gen)
    gen.set_defaults(func=cmd_generate)

    jars = commands.add_parser("jars", help="fetch the JVM jars (Delta Lake) and build the project's own into spark.jars_dir",
                               description="Fetch the pinned jars from Maven Central once and build lakehouse/jvm "
                               "with javac; jobs then run offline.")
    jars.add_argument("action", choices=["fetch", "list"], help="fetch the missing jars, or list them")
    jars.set_defaults(func=cmd_jars)

    cfg = commands.add_parser("config", help="show every setting, its environment variable and value",
                              description="Print the effective configuration (defaults, file, environment).")
    cfg.set_defaults(func=cmd_config)

    maintain = commands.add_parser(
        "maintain", help="OPTIMIZE recent partitions and VACUUM every table of the lake",
        description="Compact the last maintain.recent_days received_date partitions of every Delta table "
                    "(bronze, silver, gold, quality, metrics) into large files, then VACUUM files older than "
                    "maintain.vacuum_retention_hours (at least 7 days, so restarted streams find their versions).")
    maintain.add_argument("--no-vacuum", action="store_true", help="compact only")
    maintain.set_defaults(func=cmd_maintain)
    status = commands.add_parser(
        "status", help="freshness, rows, last export and last quality verdict of every table",
        description="Per layer and table: Delta version, rows, newest received_at and its lag, the last load "
                    "into the warehouse (from its ledger) and the last quality gate verdict. Exits 4 when a "
                    "bronze.events or silver.tracks misses status.max_lag_minutes.")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--no-warehouse", action="store_true", help="do not connect to the warehouse")
    status.set_defaults(func=cmd_status)
    demo = commands.add_parser("demo", help="generate events and run the pipeline on the embedded default "
                                            "(bronze, silver, gold, export into the DuckDB warehouse)",
                               description="Generate a day of clickstream with trouble mixed in, run bronze, "
                                           "silver, gold, the quality gate and the export into the warehouse "
                                           "(a DuckDB file by default), then print where everything is.")
    demo.add_argument("--events", type=int, default=None, help="number of events to generate (default demo.events, 50000)")
    demo.add_argument("--seed", type=int, default=None, help="generator seed (default demo.seed, 42)")
    demo.set_defaults(func=cmd_demo)


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=10_000, help="number of messages (default 10000)")
    parser.add_argument("--seed", type=int, default=42, help="same seed and day, same files (default 42)")
    parser.add_argument("--users", type=int, default=None, help="user pool size (default events/40)")
    parser.add_argument("--events-per-file", type=int, default=10_000)
    parser.add_argument("--trouble-rate", type=float, default=0.02,
                        help="share of records with trouble: bad JSON, missing ids, skew, duplicates... (default 0.02)")
    parser.add_argument("--batch-share", type=float, default=0.5, help="how often mobile sessions use batch envelopes")
    parser.add_argument("--gzip", action="store_true", help="write .jsonl.gz files")
    parser.add_argument("--day", type=_parse_day, default=None, help="YYYY-MM-DD the traffic covers (default yesterday)")
    parser.add_argument("--rate", type=float, default=None, help="events per second (default: all at once)")
    parser.add_argument("--out", default=None, help="folder to write to (default: landing.dir)")


def _parse_day(text: str) -> datetime:
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--day must be YYYY-MM-DD, got {text!r}") from None


def cmd_generate(args: argparse.Namespace, ctx: Context) -> int:
    from lakehouse.synthetic.writer import GenerateSpec, generate

    for name in ("events", "events_per_file"):
        if getattr(args, name) <= 0:
            raise LakehouseError(f"--{name.replace('_', '-')} must be positive")
    if not 0 <= args.trouble_rate <= 1:
        raise LakehouseError("--trouble-rate must be between 0 and 1")
    spec = GenerateSpec(events=args.events, seed=args.seed, users=args.users, events_per_file=args.events_per_file,
                        trouble_rate=args.trouble_rate, batch_share=args.batch_share, gzip=args.gzip,
                        day=args.day, rate=args.rate)
    folder = args.out or ctx.config.landing.dir

    def progress(report):
        print(f"\rgenerated {report.messages:,}/{args.events:,} events in {len(report.files)} files",
              end="", file=sys.stderr, flush=True)

    report = generate(folder, spec, progress=progress)
    print(file=sys.stderr)
    summary = report.as_dict()
    print(f"wrote {summary['messages']:,} events ({summary['lines']:,} lines, {summary['bytes'] / 1e6:.1f} MB) "
          f"into {folder}; {summary['expected_quarantine']:,} records are meant for quarantine")
    print("trouble mixed in: " + ", ".join(f"{k} {v}" for k, v in summary["trouble"].items()))
    return 0


def cmd_jars(args: argparse.Namespace, ctx: Context) -> int:
    from lakehouse.jars import build_jvm_jar, fetch_jars, jvm_jar_file, missing_jars

    spark_config = ctx.config.spark
    own_jar = jvm_jar_file(spark_config.jars_dir)
    if args.action == "fetch":
        fetched = fetch_jars(spark_config.jars_dir, spark_config.packages)
        print(f"fetched {len(fetched)} jar(s) into {spark_config.jars_dir}" if fetched
              else f"all {len(spark_config.packages)} jar(s) already in {spark_config.jars_dir}")
        print(f"built {own_jar}" if build_jvm_jar(spark_config.jars_dir) else f"{own_jar.name} already built")
        return 0
    missing = set(missing_jars(spark_config.jars_dir, spark_config.packages))
    for coordinate in spark_config.packages:
        print(f"{'missing' if coordinate in missing else 'ok':8} {coordinate}")
    print(f"{'ok' if own_jar.is_file() else 'missing':8} {own_jar} (the project's own, built by `jars fetch`)")
    return 1 if missing or not own_jar.is_file() else 0


def cmd_config(args: argparse.Namespace, ctx: Context) -> int:
    for key, env, value in describe(ctx.config):
        print(f"{key:32} {env:40} {value!r}")
    return 0


def cmd_demo(args: argparse.Namespace, ctx: Context) -> int:
    from tqdm import tqdm

    from lakehouse.demo import print_summary

    events = args.events or ctx.config.demo.events
    seed = ctx.config.demo.seed if args.seed is None else args.seed
    steps = [
        ("generating events", ["generate", "--events", str(events), "--seed", str(seed)]),
        ("bronze ingest", ["ingest", "--available-now"]),
        ("silver", ["silver", "--available-now"]),
        ("gold models", ["gold"]),
        ("quality gate", ["quality"]),  # a failed table is reported and not exported; the rest goes on
        ("warehouse export", ["export"]),
    ]
    with tqdm(total=len(steps), unit="step", file=sys.stderr, dynamic_ncols=True,
              bar_format="{desc:<26}{bar:20} {n_fmt}/{total_fmt} steps, {elapsed}") as bar:
        for label, argv in steps:
            bar.set_description(f"demo: {label}")
            run_command(argv, ctx)
            bar.update()
        bar.set_description("demo: done")
    print_summary(ctx.spark(), ctx.config)
    return 0


def cmd_maintain(args: argparse.Namespace, ctx: Context) -> int:
    from lakehouse.maintenance import maintain

    settings = ctx.config.maintain
    results = maintain(ctx.spark(), ctx.config.lake.dir, recent_days=settings.recent_days,
                       retention_hours=settings.vacuum_retention_hours, vacuum=not args.no_vacuum)
    for item in results:
        print(f"{item.table:48} {item.files_removed:>6} files -> {item.files_added:<4}"
              f"{'  vacuumed' if item.vacuumed else ''}")
    print(f"maintain: {len(results)} tables, {sum(r.files_removed for r in results):,} small files compacted")
    return 0


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    from lakehouse import status
    from lakehouse.warehouse import open_warehouse

    loads = None
    if not args.no_warehouse:
        wh = ctx.config.warehouse
        try:
            with open_warehouse(wh.url, password_env=wh.password_env, s3_endpoint_url=wh.s3_endpoint_url) as warehouse:
                loads = warehouse.latest_loads(wh.schema)
        except Exception as exc:  # noqa: BLE001 - status reports what it can; the warehouse may be down
            print(f"status: warehouse not reachable ({type(exc).__name__}); export columns left empty", file=sys.stderr)
    spark = ctx.spark()
    # One task per table snapshot: status loads hundreds of small snapshots (see status.collect).
    spark.conf.set("spark.databricks.delta.snapshotPartitions", "1")
    statuses = status.collect(spark, ctx.config, warehouse_loads=loads)
    print(status.to_json(statuses) if args.json else status.render(statuses))
    late = [s.table for s in statuses if s.fresh is False]
    if late:
        print(f"status: freshness objective ({ctx.config.status.max_lag_minutes} min) missed by {', '.join(late)}",
              file=sys.stderr)
        return 4
    return 0


def run_command(argv: Sequence[str], ctx: Context) -> int:
    """Run another subcommand in this process, sharing the config and Spark session."""
    args = build_parser().parse_args(list(argv))
    return args.func(args, ctx) or 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("py4j").setLevel(logging.WARNING)
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    try:
        ctx = Context(config=load_config(args.config))
        return args.func(args, ctx) or 0
    except LakehouseError as exc:
        print(f"lakehouse {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
