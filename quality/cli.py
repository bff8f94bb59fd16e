"""``lakehouse quality``: run the suites and the gate."""

from __future__ import annotations

import argparse


def register(commands) -> None:
    quality = commands.add_parser(
        "quality", help="run the quality suites and the gate",
        description="Validate every table that has a suite (bronze.events, silver tracks/pages/screens/identifies/"
                    "users, the gold models) with Great Expectations. warn: reported; drop: failing rows move to "
                    "<lake>/quality/quarantine; fail: the table does not pass and its export does not run. "
                    "Exits 3 when a table failed.")
    quality.add_argument("action", nargs="?", choices=("run", "report"), default="run",
                         help="run (default): the suites and the gate; report: render the HTML summary "
                              "(<lake>/reports/quality.html) from the history")
    quality.add_argument("--table", action="append", default=[], metavar="LAYER.TABLE",
                         help="validate only this table (repeatable), e.g. silver.tracks")
    quality.set_defaults(func=cmd_quality)


def cmd_quality(args: argparse.Namespace, ctx) -> int:
    from quality.gate import QualityPaths, run_gate, write_report

    if args.action == "report":
        print(f"quality report: {write_report(ctx.spark(), ctx.config)}")
        return 0
    verdicts = run_gate(ctx.spark(), ctx.config, tuple(args.table), raise_on_failure=False)
    for verdict in verdicts:
        state = "passed" if verdict.passed else "FAILED: " + ", ".join(verdict.failed)
        extra = f"  warnings: {', '.join(verdict.warnings)}" if verdict.warnings else ""
        extra += f"  dropped {verdict.dropped_rows} rows" if verdict.dropped_rows else ""
        print(f"{verdict.table:28} v{verdict.table_version:<5} {state}{extra}")
    print(f"quality report: {QualityPaths.from_config(ctx.config).reports}/quality.html "
          f"(Great Expectations results and Data Docs pages under gx/)")
    failed = [v.table for v in verdicts if not v.passed]
    if failed:
        print(f"quality: {len(failed)} table(s) did not pass: {', '.join(failed)}; their export will not run")
        return 3
    print(f"quality: {len(verdicts)} table(s) passed")
    return 0
