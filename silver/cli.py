"""``lakehouse silver``: the silver job as a command."""

from __future__ import annotations

import argparse
import sys


def register(commands) -> None:
    parser = commands.add_parser(
        "silver", help="flatten bronze into the Segment-compatible silver tables",
        description="Read bronze.events incrementally and write tracks, pages, screens, identifies, groups, "
                    "aliases, one table per track event, the column map, discards and the dedup index. Runs "
                    "until SIGTERM/Ctrl-C, or with --available-now processes what bronze holds and stops.")
    parser.add_argument("--available-now", action="store_true", help="process what bronze holds now, then stop")
    parser.add_argument("--trigger-seconds", type=int, default=None, help="override silver.trigger_seconds")
    parser.add_argument("--full-refresh", action="store_true",
                        help="delete every silver table and the silver checkpoint first, then rebuild from all of bronze")
    parser.set_defaults(func=cmd_silver)


def cmd_silver(args: argparse.Namespace, ctx) -> int:
    from lakehouse.config import with_values
    from lakehouse.streaming import run_until_stopped
    from silver.job import full_refresh, start_silver

    config = ctx.config
    if args.trigger_seconds is not None:
        config = with_values(config, silver={"trigger_seconds": args.trigger_seconds})
    totals = {"rows_out": 0, "batches": 0, "duplicates": 0}

    def progress(row: dict) -> None:
        totals["batches"] += 1
        totals["rows_out"] += row["rows_out"]
        totals["duplicates"] += row["duplicates_in_batch"] + row["duplicates_seen_before"]
        print(f"silver batch {row['batch_id']}: {row['rows_out']:,} events to {row['tables_written']} tables, "
              f"{row['new_columns']} new columns, in {row['duration_s']:.1f}s", file=sys.stderr, flush=True)

    if args.full_refresh:
        full_refresh(ctx.spark(), config)
    run_until_stopped(start_silver(ctx.spark(), config, available_now=args.available_now, on_batch=progress))
    print(f"silver: {totals['batches']} batch(es), {totals['rows_out']:,} events, {totals['duplicates']:,} duplicates dropped")
    return 0
