"""``lakehouse gold`` and ``lakehouse export``: the gold models and the warehouse load as commands."""

from __future__ import annotations

import argparse


def register(commands) -> None:
    gold = commands.add_parser(
        "gold", help="rebuild the gold models (sessions, users, daily metrics) from silver",
        description="Rebuild sessions, stitched users, daily_active_users and event_counts_daily under "
                    "<lake>/gold/ from the current silver tables, each in one Delta commit.")
    gold.add_argument("--only", action="append", default=[], metavar="MODEL",
                      help="rebuild only this model (repeatable)")
    gold.set_defaults(func=cmd_gold)
    export = commands.add_parser(
        "export", help="load what changed since the last export into the warehouse",
        description="For every silver and gold table: the rows changed since its last load (Delta change "
                    "feed), staged as Parquet and loaded with COPY into a staging table, merged into the "
                    "target and recorded in the load ledger in one transaction. Running it again is a no-op. "
                    "The warehouse is warehouse.url (LAKEHOUSE_WAREHOUSE_URL); the password comes from the "
                    "environment variable named by warehouse.password_env.")
    export.add_argument("--table", action="append", default=[], metavar="NAME",
                        help="export only this warehouse table (repeatable)")
    export.set_defaults(func=cmd_export)


def cmd_gold(args: argparse.Namespace, ctx) -> int:
    from gold.job import MODELS, run_gold
    from lakehouse.errors import ConfigError

    unknown = sorted(set(args.only) - set(MODELS))
    if unknown:
        raise ConfigError(f"unknown gold model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    for result in run_gold(ctx.spark(), ctx.config, tuple(args.only)):
        print(f"gold.{result.table:22} {result.rows:>10,} rows  {result.seconds:6.1f}s")
    return 0


def cmd_export(args: argparse.Namespace, ctx) -> int:
    from gold.export import run_export
    from lakehouse.warehouse import WarehouseURL
    from lakehouse.status import gate_decisions
    from lakehouse.tables import Lake

    decisions = gate_decisions(ctx.spark(), Lake(ctx.config.lake.dir))
    blocked = sorted(t for t, decision in decisions.items() if not decision.passed)
    if blocked:
        print(f"export: not exporting the tables of {', '.join(blocked)}: their latest quality gate failed")
    results = run_export(ctx.spark(), ctx.config, tables=tuple(args.table),
                         gate=decisions)
    loaded = 0
    for item in results:
        if item.held:
            state = f"not loaded: {item.held}"
        elif item.result is None:
            state = "up to date"
        elif item.result.skipped:
            state = "already loaded"
        else:
            loaded += item.result.rows
            extra = ""
            if item.result.columns_added:
                extra += f", {len(item.result.columns_added)} new column(s)"
            if item.result.rows_deleted:
                extra += f", {item.result.rows_deleted:,} deleted"
            if item.result.columns_widened:
                extra += f", widened {', '.join(item.result.columns_widened)}"
            state = f"{item.result.rows:,} rows{extra}"
        print(f"{item.schema}.{item.table:40} {state}")
    print(f"export: {loaded:,} rows into {WarehouseURL.parse(ctx.config.warehouse.url).redacted()}")
    return 0
