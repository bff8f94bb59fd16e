#!/usr/bin/env bash
# Install the Debian packages of the servers the tests start (PostgreSQL), when missing.
# The tests start and stop their own server instance in a temporary folder (tests/servers.py).
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    echo "setup: PostgreSQL server is missing; installing Debian's postgresql" >&2
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: installing PostgreSQL needs root (apt-get install postgresql)" >&2
        exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
