#!/usr/bin/env bash
# Set up what is missing (Python packages, jars), then run the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not integration".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
scripts/servers.sh
scripts/airflow.sh
exec .venv/bin/python -m pytest "$@"
