#!/usr/bin/env bash
# Install the Debian packages the tests use when missing: the PostgreSQL server (the tests start
# and stop their own instance in a temporary folder, tests/servers.py) and headless Chromium (the
# quality report is opened in it).
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
if (( ${#missing[@]} )); then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: installing ${missing[*]} needs root (apt-get install ${missing[*]})" >&2
        exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
