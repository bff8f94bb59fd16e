#!/usr/bin/env bash
# Set up Jupyter (the "notebooks" extra) if missing and open the analyst notebooks on the lake the
# demo built (./lake and ./warehouse.duckdb unless LAKEHOUSE_LAKE_DIR / LAKEHOUSE_WAREHOUSE_URL
# say otherwise). Extra arguments go to jupyter lab, e.g. --no-browser --port 8890.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --notebooks
export LAKEHOUSE_LAKE_DIR="${LAKEHOUSE_LAKE_DIR:-$PWD/lake}"
export LAKEHOUSE_WAREHOUSE_URL="${LAKEHOUSE_WAREHOUSE_URL:-duckdb:///$PWD/warehouse.duckdb}"
exec .venv/bin/jupyter lab notebooks/ "$@"
