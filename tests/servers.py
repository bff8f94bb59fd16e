"""Real servers for the tests: a PostgreSQL instance from Debian's package, an S3 API from moto.

Each starts once per test run in a temporary folder on a free loopback port and stops at the end.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    database: str

    @property
    def url(self) -> str:
        """The warehouse URL (the password goes through the environment, never the URL)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed; run scripts/servers.sh (apt-get install postgresql)")
    return found[-1]


@contextmanager
def postgres_server():
    """Yield a running PostgreSQL with password (scram) authentication for user ``lakehouse``."""
    root = tempfile.mkdtemp(prefix="lakehouse-pg-")
    data, password = os.path.join(root, "data"), "s3cret-Pw!"
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the package's postgres account
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    pwfile = os.path.join(root, "pw")
    with open(pwfile, "w") as handle:
        handle.write(password)
    if as_user:
        shutil.chown(pwfile, "postgres")
    port = free_port()
    subprocess.run(as_user + [_pg_bin("initdb"), "-D", data, "-U", "lakehouse", "--pwfile", pwfile,
                              "-A", "scram-sha-256", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(as_user + [_pg_bin("pg_ctl"), "-D", data, "-o", options, "-l", os.path.join(root, "log"),
                              "-w", "start"], check=True, capture_output=True)
    try:
        yield Postgres("127.0.0.1", port, "lakehouse", password, "postgres")
    finally:
        subprocess.run(as_user + [_pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def s3_server():
    """Yield the endpoint URL of moto's S3 in server mode (real HTTP on loopback)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()
