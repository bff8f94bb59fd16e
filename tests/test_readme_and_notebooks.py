"""The README's commands and the analyst notebooks, run the way a user runs them, on a small demo.

Every ``bash`` block of the README runs in order at the repository root (except the test command,
which is this suite), with the lake, landing folder and warehouse in a temporary folder and a
3,000-event demo; then each notebook runs top to bottom on that lake with nbclient. A failing
command or cell fails the test.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lakehouse import delta
from lakehouse.tables import Lake
from lakehouse.warehouse import open_warehouse

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
TEST_COMMAND = "scripts/test.sh"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def readme_blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.S | re.M)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    """Run the README's bash blocks; returns the environment they ran with and their outputs."""
    work = tmp_path_factory.mktemp("readme")
    env = {
        **os.environ,
        "LAKEHOUSE_LAKE_DIR": str(work / "lake"),
        "LAKEHOUSE_LANDING_DIR": str(work / "landing"),
        "LAKEHOUSE_WAREHOUSE_URL": f"duckdb:///{work}/warehouse.duckdb",
        "LAKEHOUSE_DEMO_EVENTS": "3000",
        "LAKEHOUSE_SPARK_MASTER": "local[2]",
        "LAKEHOUSE_SPARK_DRIVER_MEMORY": "2g",
    }
    outputs = {}
    for block in readme_blocks("bash"):
        if block.strip() == TEST_COMMAND:
            continue
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=1800)
        if result.returncode != 0:
            pytest.fail(f"README block exited {result.returncode}:\n{block}\n--- stdout\n{result.stdout[-4000:]}"
                        f"\n--- stderr\n{result.stderr[-4000:]}")
        outputs[block] = result.stdout
    return {"work": work, "env": env, "outputs": outputs}


def test_readme_has_the_two_commands_first():
    blocks = readme_blocks("bash")
    assert [b.strip() for b in blocks[:2]] == ["scripts/demo.sh", TEST_COMMAND]
    assert (ROOT / ".ci" / "run").read_text().count(TEST_COMMAND) == 1


def test_readme_blocks_build_the_demo_and_look_around(demo, spark):
    work, outputs = demo["work"], demo["outputs"]
    demo_output = outputs["scripts/demo.sh\n"]
    lake = Lake(str(work / "lake"))
    events = delta.read_table(spark, lake.bronze_events).count()
    quarantined = delta.read_table(spark, lake.bronze_quarantine).count()
    assert events > 2500 and quarantined > 0
    assert f"bronze.events      {events:>10,} rows" in demo_output
    assert f"bronze.quarantine  {quarantined:>10,} rows" in demo_output
    assert f"quality report:    {work}/lake/reports/quality.html" in demo_output
    assert f"LAKEHOUSE_LAKE_DIR={work}/lake LAKEHOUSE_WAREHOUSE_URL=duckdb:///{work}/warehouse.duckdb " \
           "scripts/notebooks.sh" in demo_output
    assert (work / "lake" / "reports" / "quality.html").exists()
    silver_tracks = delta.read_table(spark, lake.silver("tracks")).count()
    with open_warehouse(f"duckdb:///{work}/warehouse.duckdb", read_only=True) as warehouse:
        assert warehouse.query("SELECT count(*) FROM analytics.tracks") == [(silver_tracks,)]
        sessions = warehouse.query("SELECT count(*) FROM analytics.sessions")[0][0]
    assert sessions > 0
    look_around = next(text for block, text in outputs.items() if "open_lake" in block)
    assert "bronze/events" in look_around and "silver/tracks" in look_around
    assert f"{sessions}" in look_around.split("sessions")[-1]


def test_readme_suite_example_loads_as_checks(tmp_path):
    """The README's YAML block, saved as a suite file, gives exactly the checks it describes."""
    from quality.checks import load_suites

    (block,) = readme_blocks("yaml")
    (tmp_path / "silver.tracks.yaml").write_text(block)
    checks = {c.name: c for c in load_suites(str(tmp_path), skew_minutes=1440, max_lag_minutes=0)["silver.tracks"]}
    assert (checks["price_not_negative"].kind, checks["price_not_negative"].severity) == ("rows", "drop")
    assert checks["price_not_negative"].unexpected == "price < 0"
    assert checks["plan_known"].expectation == "expect_column_values_to_be_in_set"
    assert dict(checks["plan_known"].kwargs) == {"column": "plan", "value_set": ["free", "pro"]}
    assert checks["plan_known"].severity == "warn"


def test_notebooks_are_stored_without_outputs():
    assert [p.stem for p in NOTEBOOKS] == ["01_quickstart", "02_product_analytics", "03_data_quality",
                                           "04_schema_explorer"]
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs"
                assert "sys.path" not in cell.source, f"{path.name} imports by path, not the installed package"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_on_the_demo_lake(demo, path, monkeypatch):
    for key in ("LAKEHOUSE_LAKE_DIR", "LAKEHOUSE_WAREHOUSE_URL", "LAKEHOUSE_SPARK_MASTER"):
        monkeypatch.setenv(key, demo["env"][key])
    monkeypatch.setenv("LAKEHOUSE_SPARK_DRIVER_MEMORY", "1g")
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # a failing cell raises
    outputs = [o for cell in book.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    charts = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    tables = [o for o in outputs if o.output_type == "execute_result" and "text/html" in o.get("data", {})]
    assert tables, f"{path.name} showed no tables"
    if path.stem != "01_quickstart":
        assert charts, f"{path.name} drew no charts"
