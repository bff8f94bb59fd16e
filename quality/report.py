"""The one-page HTML summary of the quality gate (``lakehouse quality report``).

Per table: the latest verdict, every check with severity, observed value, unexpected count and a
sample of failing values, and the trend of its unexpected counts over the last runs as a small
inline SVG chart. Static HTML (no script, no network), so it opens anywhere and can be mailed.
Rendering is pure: history rows in, text out.
"""

from __future__ import annotations

import functools
import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Mapping

from lakehouse.tables import local_path

TREND_RUNS = 12

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;width:100%} th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
.passed{color:#0a7a30;font-weight:600} .failed{color:#b00020;font-weight:600} .warn{color:#a05a00}
.ok{color:#0a7a30} code{font-size:12px} .sample{font-size:12px;color:#555;max-width:40em;word-break:break-all}
"""


def sparkline(values: list[float], width: int = 120, height: int = 24) -> str:
    """An inline SVG polyline of ``values`` (the newest on the right)."""
    if not values:
        return ""
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values))
    label = ", ".join(f"{v:g}" for v in values)
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="unexpected counts: {html.escape(label)}">'
            f'<polyline fill="none" stroke="#3367d6" stroke-width="1.5" points="{points}"/></svg>')


def render(history: Iterable[Mapping], gate: Iterable[Mapping], title: str = "Data quality") -> str:
    """The report from history rows and each table's latest gate row (dicts with the tables' columns)."""
    history = list(history)
    latest_gate = {row["table"]: row for row in gate}
    runs_by_table: dict[str, list[str]] = defaultdict(list)
    for row in sorted(history, key=lambda r: r["validated_at"]):
        if row["run_id"] not in runs_by_table[row["table"]]:
            runs_by_table[row["table"]].append(row["run_id"])
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    failed = sorted(t for t, g in latest_gate.items() if not g["passed"])
    summary = (f'<p class="failed">{len(failed)} of {len(latest_gate)} tables did not pass: {html.escape(", ".join(failed))}</p>'
               if failed else f'<p class="passed">All {len(latest_gate)} tables passed.</p>')
    parts.append(summary)
    parts.append("<table><tr><th>table</th><th>verdict</th><th>version</th><th>failed</th><th>warnings</th>"
                 "<th>dropped rows</th><th>decided at</th></tr>")
    for table, row in sorted(latest_gate.items()):
        verdict = '<span class="passed">passed</span>' if row["passed"] else '<span class="failed">failed</span>'
        parts.append(f'<tr><td><a href="#{html.escape(table)}">{html.escape(table)}</a></td><td>{verdict}</td>'
                     f'<td>{row["table_version"]}</td><td>{html.escape(row["failed_checks"] or "")}</td>'
                     f'<td>{html.escape(row["warnings"] or "")}</td><td>{row["dropped_rows"]}</td>'
                     f'<td>{html.escape(str(row["decided_at"]))}</td></tr>')
    parts.append("</table>")
    for table in sorted(runs_by_table):
        runs = runs_by_table[table][-TREND_RUNS:]
        last_run = runs[-1]
        rows = [r for r in history if r["table"] == table]
        latest = [r for r in rows if r["run_id"] == last_run]
        parts.append(f'<h2 id="{html.escape(table)}">{html.escape(table)}</h2>')
        parts.append("<table><tr><th>check</th><th>severity</th><th>result</th><th>observed</th>"
                     "<th>unexpected</th><th>sample failing values</th><th>last runs</th></tr>")
        for row in sorted(latest, key=lambda r: (r["success"], r["check"])):
            trend = []
            for run in runs:
                counts = [r["unexpected_count"] or 0 for r in rows if r["run_id"] == run and r["check"] == row["check"]]
                trend.append(float(counts[0]) if counts else 0.0)
            result_class = "ok" if row["success"] else ("failed" if row["severity"] == "fail" else "warn")
            sample = json.loads(row["sample"] or "[]") if (row["sample"] or "").startswith("[") else []
            parts.append(
                f'<tr><td><code>{html.escape(row["check"])}</code></td><td>{html.escape(row["severity"])}</td>'
                f'<td class="{result_class}">{"passed" if row["success"] else "failed"}</td>'
                f'<td>{html.escape(str(row["observed_value"] if row["observed_value"] is not None else ""))}</td>'
                f'<td>{"" if row["unexpected_count"] is None else row["unexpected_count"]}</td>'
                f'<td class="sample">{html.escape(json.dumps(sample, default=str)[:400]) if sample else ""}</td>'
                f'<td>{sparkline(trend)}</td></tr>')
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


# -- files (local folders; reports on a cluster go to a mounted or synced folder) -------------------

def _local(folder: str) -> Path:
    return Path(local_path(folder, "quality.reports_dir")).expanduser()


@functools.lru_cache(maxsize=1)
def _page_view():
    """One Data Docs page view per process: each view compiles GX's Jinja templates anew (0.1 s a
    page); its environment caches them (Jinja's cache is thread-safe)."""
    from great_expectations.render.view import DefaultJinjaPageView

    return DefaultJinjaPageView()


def write_validation(reports_dir: str, run_id: str, table: str, validation) -> Path:
    """Great Expectations' own record of one validation: its JSON result and its Data Docs page."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    folder = _local(reports_dir) / "gx" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{table}.json").write_text(json.dumps(validation.to_json_dict(), indent=1, default=str))
    page = _page_view().render(ValidationResultsPageRenderer().render(validation))
    path = folder / f"{table}.html"
    path.write_text(page)
    return path


def write_summary(reports_dir: str, history: Iterable[Mapping], gate: Iterable[Mapping]) -> Path:
    """Render the summary page to ``<reports>/quality.html``."""
    folder = _local(reports_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "quality.html"
    path.write_text(render(history, gate))
    return path
