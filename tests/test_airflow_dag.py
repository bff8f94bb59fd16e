"""The Airflow DAG file, loaded by Airflow itself (installed into .venv-airflow by scripts/airflow.sh)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from lakehouse.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_PYTHON = ROOT / ".venv-airflow" / "bin" / "python"

# Runs inside Airflow's environment: load dags/ the way the scheduler does, print what it found.
LOAD_DAGS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "errors": {path: str(err) for path, err in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "schedule": str(dag.schedule),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tasks": {t.task_id: {"command": t.bash_command, "upstream": sorted(t.upstream_task_ids),
                                  "trigger_rule": getattr(t.trigger_rule, "value", str(t.trigger_rule)), "retries": t.retries}
                      for t in dag.tasks},
        }
        for dag_id, dag in bag.dags.items()
    },
}))
"""


def load_dags(tmp_path: Path, **env: str) -> dict:
    if not AIRFLOW_PYTHON.exists():
        pytest.skip("Airflow is not installed here: run scripts/airflow.sh (scripts/test.sh does)")
    environment = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), **env}
    environment.pop("PYTHONPATH", None)
    result = subprocess.run([str(AIRFLOW_PYTHON), "-c", LOAD_DAGS, str(ROOT / "dags")], env=environment,
                            capture_output=True, text=True, timeout=300, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_airflow_loads_the_pipeline_and_maintenance_dags(tmp_path):
    found = load_dags(tmp_path)
    assert found["errors"] == {}
    pipeline = found["dags"]["clickstream_lakehouse"]
    assert pipeline["schedule"] == "@hourly" and pipeline["catchup"] is False and pipeline["max_active_runs"] == 1
    tasks = pipeline["tasks"]
    order = ["silver", "gold", "quality", "export", "status"]
    assert sorted(tasks) == sorted(order)
    for before, after in zip(order, order[1:]):
        assert tasks[after]["upstream"] == [before]
    # The export runs for the tables that passed even when the gate failed another table.
    assert tasks["export"]["trigger_rule"] == "all_done"
    assert tasks["quality"]["retries"] == 0
    maintenance = found["dags"]["clickstream_lakehouse_maintain"]
    assert list(maintenance["tasks"]) == ["maintain"]
    assert maintenance["schedule"] == "30 3 * * *"


def test_every_dag_command_is_a_valid_lakehouse_command_line(tmp_path):
    found = load_dags(tmp_path)
    parser = build_parser()
    for dag in found["dags"].values():
        for task_id, task in dag["tasks"].items():
            words = shlex.split(task["command"])
            assert words[0] == "lakehouse"
            args = parser.parse_args(words[1:])  # exits (fails the test) on an unknown flag
            assert args.command == task_id


def test_command_and_schedule_come_from_the_environment(tmp_path):
    submit = "spark-submit --master yarn /srv/lakehouse/lakehouse/__main__.py"
    found = load_dags(tmp_path, LAKEHOUSE_COMMAND=submit, LAKEHOUSE_SCHEDULE="*/15 * * * *")
    pipeline = found["dags"]["clickstream_lakehouse"]
    assert pipeline["tasks"]["silver"]["command"] == f"{submit} silver --available-now"
    assert pipeline["schedule"] == "*/15 * * * *"
