#!/usr/bin/env bash
# Idempotent: Apache Airflow (the version pinned in pyproject.toml's "airflow" extra) in its own
# virtualenv, .venv-airflow, for the test that loads dags/ with Airflow. Airflow's ~200 packages
# stay out of the project's environment; the DAG file imports nothing from the project.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null || python_bin=python3
pin="$(grep -o '"apache-airflow==[^"]*"' pyproject.toml | tr -d '"')"
[[ -x .venv-airflow/bin/python ]] || "$python_bin" -m venv .venv-airflow
if [[ ! -f .venv-airflow/.installed || "$(cat .venv-airflow/.installed)" != "$pin" ]]; then
    echo "airflow: installing $pin into .venv-airflow" >&2
    .venv-airflow/bin/pip install -q --disable-pip-version-check "$pin"
    echo "$pin" > .venv-airflow/.installed
fi
