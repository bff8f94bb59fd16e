"""Apache Airflow DAGs for the clickstream lakehouse: the hourly pipeline and nightly maintenance.

Copy or link this file into Airflow's ``dags/`` folder. The tasks call the ``lakehouse`` command
line, so the project does not need to be importable by the scheduler, only runnable by the
workers (``pip install clickstream-lakehouse``, or the project's ``.venv``). The bronze stream is
not here: it is a long-lived job (``lakehouse ingest``) for a supervisor, not a scheduled task.

Settings, read from the environment when the file is parsed:

- ``LAKEHOUSE_COMMAND``: how to run the command line (default ``lakehouse``), e.g.
  ``/srv/lakehouse/.venv/bin/lakehouse`` or, on a cluster,
  ``spark-submit --master yarn --packages io.delta:delta-spark_4.2_2.13:4.4.0 /srv/lakehouse/lakehouse/__main__.py``.
- ``LAKEHOUSE_SCHEDULE``: the pipeline's schedule (default ``@hourly``).
- ``LAKEHOUSE_MAINTAIN_SCHEDULE``: OPTIMIZE and VACUUM (default ``30 3 * * *``, nightly).
- Every other ``LAKEHOUSE_*`` setting (config file, lake folder, warehouse URL, the warehouse
  password) reaches the commands through the workers' environment, never through this file.

Exit codes: ``lakehouse quality`` exits 3 when a table fails its gate; that task fails (and alerts),
and the export still runs (``all_done``), loading the tables that passed and skipping the failed
ones by their recorded verdict. ``lakehouse status`` exits 4 when bronze or silver is later than
``status.max_lag_minutes``, so the run ends red when the data is stale.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator

COMMAND = os.environ.get("LAKEHOUSE_COMMAND", "lakehouse")
SCHEDULE = os.environ.get("LAKEHOUSE_SCHEDULE", "@hourly")
MAINTAIN_SCHEDULE = os.environ.get("LAKEHOUSE_MAINTAIN_SCHEDULE", "30 3 * * *")

DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
}

# (task id, lakehouse arguments, extra operator arguments), in order.
PIPELINE = (
    ("silver", "silver --available-now", {}),
    ("gold", "gold", {}),
    ("quality", "quality", {"retries": 0}),  # a failed gate is a verdict, not a transient error
    ("export", "export", {"trigger_rule": "all_done"}),
    ("status", "status", {"retries": 0}),
)


def lakehouse_task(task_id: str, arguments: str, **kwargs) -> BashOperator:
    """A task running ``<LAKEHOUSE_COMMAND> <arguments>``."""
    return BashOperator(task_id=task_id, bash_command=f"{COMMAND} {arguments}", **kwargs)


with DAG(
    dag_id="clickstream_lakehouse",
    description="bronze -> silver -> gold -> quality gate -> warehouse export, then a freshness check",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1),
    catchup=False,  # every run processes whatever is new; missed hours need no replay
    max_active_runs=1,  # the jobs keep checkpoints and a load ledger: one run at a time
    default_args=DEFAULT_ARGS,
    tags=["lakehouse"],
) as pipeline:
    previous = None
    for task_id, arguments, extra in PIPELINE:
        task = lakehouse_task(task_id, arguments, **extra)
        if previous is not None:
            previous >> task
        previous = task

with DAG(
    dag_id="clickstream_lakehouse_maintain",
    description="OPTIMIZE recent partitions and VACUUM every lake table",
    schedule=MAINTAIN_SCHEDULE,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakehouse"],
) as maintenance:
    lakehouse_task("maintain", "maintain")
