#!/usr/bin/env bash
# Idempotent set-up: a virtualenv with the project and its pinned dependencies, and the JVM jars
# (Delta Lake, and the project's own, built with javac) in the jar folder. Safe to run any number of times; the second run does no network I/O.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --dev    plus test dependencies (which run the notebooks too)
#   scripts/setup.sh --notebooks    plus Jupyter for the notebooks
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev,notebooks]"
[[ "${1:-}" == "--notebooks" ]] && extras="[notebooks]"

python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null || python_bin=python3
if ! command -v java >/dev/null; then
    echo "setup: Java is missing; installing Debian's OpenJDK 17" >&2
    apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
if ! command -v mvn >/dev/null; then
    echo "setup: Maven is missing; installing Debian's maven (used once to fetch jars)" >&2
    apt-get update -qq && apt-get install -y -qq maven >/dev/null
fi
if ! command -v javac >/dev/null; then
    echo "setup: javac is missing; installing Debian's openjdk-17-jdk-headless (builds the project's jar)" >&2
    apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless >/dev/null
fi

[[ -x .venv/bin/python ]] || "$python_bin" -m venv .venv
stamp=".venv/.installed${extras}"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "setup: installing Python packages (pyproject.toml changed or first run)" >&2
    .venv/bin/pip install -q --disable-pip-version-check -e ".${extras}"
    echo "$want" > "$stamp"
    # What was installed covers the smaller sets too (the demo after the tests installs nothing).
    echo "$want" > .venv/.installed
    [[ "$extras" == *notebooks* ]] && echo "$want" > ".venv/.installed[notebooks]"
fi

.venv/bin/lakehouse jars fetch >&2
