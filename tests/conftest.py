"""One Spark session for the whole run (Delta configured, UI off, 2 shuffle partitions)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("SPARK_TESTING", "1")


@pytest.fixture(scope="session")
def spark():
    from lakehouse.config import SparkConfig
    from lakehouse.spark import build_session

    session = build_session(SparkConfig(master="local[2]", driver_memory="2g", shuffle_partitions=2))
    yield session
    session.stop()


@pytest.fixture
def lake_config(tmp_path):
    """A config whose lake and landing folder live in this test's temporary directory."""
    from lakehouse.config import load_config

    return load_config(env={"LAKEHOUSE_LAKE_DIR": str(tmp_path / "lake"),
                            "LAKEHOUSE_LANDING_DIR": str(tmp_path / "landing")})


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server (Debian's package) for the whole run."""
    from tests.servers import postgres_server

    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 API over HTTP, with dummy credentials in the environment."""
    from tests.servers import s3_server

    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(key, value)
    with s3_server() as endpoint:
        yield endpoint
