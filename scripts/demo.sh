#!/usr/bin/env bash
# One command on a fresh machine: set up what is missing, then run the pipeline on the embedded
# default (generated events, lake in ./lake, landing folder ./landing).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/lakehouse demo "$@"
