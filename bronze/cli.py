"""``lakehouse ingest``: the bronze stream as a command."""

from __future__ import annotations

import argparse
import sys


def register(commands) -> None:
    parser = commands.add_parser(
        "ingest", help="stream the landing folder into bronze (10-second triggers)",
        description="Stream landing-folder JSON lines into bronze.events and bronze.quarantine. "
                    "Runs until SIGTERM/Ctrl-C (finishing the running batch), or with --available-now "
                    "processes what is there and stops.")
    parser.add_argument("--available-now", action="store_true", help="process the files present now, then stop")
    parser.add_argument("--trigger-seconds", type=int, default=None, help="override bronze.trigger_seconds")
    parser.add_argument("--max-files-per-trigger", type=int, default=None, help="override bronze.max_files_per_trigger")
    parser.set_defaults(func=cmd_ingest)


def cmd_ingest(args: argparse.Namespace, ctx) -> int:
    from bronze.ingest import start_ingest
    from lakehouse.streaming import run_until_stopped
    from lakehouse.config import with_values

    flags = {"trigger_seconds": args.trigger_seconds, "max_files_per_trigger": args.max_files_per_trigger}
    config = with_values(ctx.config, bronze={k: v for k, v in flags.items() if v is not None})
    totals = {"records_in": 0, "quarantined": 0, "batches": 0}

    def progress(row: dict) -> None:
        totals["batches"] += 1
        totals["records_in"] += row["records_in"]
        totals["quarantined"] += row["quarantined"]
        print(f"batch {row['batch_id']}: {row['records_in']:,} records ({row['quarantined']:,} quarantined) "
              f"in {row['duration_s']:.1f}s; total {totals['records_in']:,}", file=sys.stderr, flush=True)

    query = start_ingest(ctx.spark(), config, available_now=args.available_now, on_batch=progress)
    run_until_stopped(query)
    print(f"ingest: {totals['batches']} batch(es), {totals['records_in']:,} records, "
          f"{totals['quarantined']:,} quarantined")
    return 0
