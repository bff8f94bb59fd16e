"""The command line as a user meets it: help on every command, clear errors, exit codes."""

import os
import subprocess
import sys

import pytest

from lakehouse.cli import build_parser


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "lakehouse", *args], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=60)


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_layers_register_their_commands():
    assert {"generate", "ingest", "jars", "config", "demo"} <= set(subcommands())


@pytest.mark.parametrize("command", ["generate", "ingest", "jars", "config", "demo"])
def test_every_command_has_help(command):
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: lakehouse " + command)


def test_bad_setting_fails_at_start_naming_key_and_fix():
    result = run("ingest", "--available-now", env={"LAKEHOUSE_BRONZE_TRIGGER_SECONDS": "soon"})
    assert result.returncode == 2
    assert "LAKEHOUSE_BRONZE_TRIGGER_SECONDS" in result.stderr and "bronze.trigger_seconds" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_jars_say_how_to_fetch_them(tmp_path):
    result = run("ingest", "--available-now", env={"LAKEHOUSE_SPARK_JARS_DIR": str(tmp_path / "nojars"),
                                                   "LAKEHOUSE_LAKE_DIR": str(tmp_path / "lake")})
    assert result.returncode == 2
    assert "lakehouse jars fetch" in result.stderr


def test_generate_writes_the_landing_folder(tmp_path):
    landing = tmp_path / "landing"
    result = run("generate", "--events", "500", "--gzip", env={"LAKEHOUSE_LANDING_DIR": str(landing)})
    assert result.returncode == 0, result.stderr
    assert "wrote 500 events" in result.stdout
    assert len(list(landing.glob("*.jsonl.gz"))) == 1


def test_config_lists_every_key_with_its_variable():
    result = run("config", env={"LAKEHOUSE_LAKE_DIR": "/somewhere"})
    assert "LAKEHOUSE_LAKE_DIR" in result.stdout and "'/somewhere'" in result.stdout


@pytest.mark.integration
def test_spark_submit_runs_the_command_line_with_its_own_master_and_jars(tmp_path):
    """``spark.jars_source = "provided"``: spark-submit's master and jars apply, nothing is fetched."""
    from pathlib import Path

    from lakehouse.config import load_config
    from lakehouse.jars import jar_paths, jvm_jar_path

    config = load_config(env={})
    env = dict(os.environ, LAKEHOUSE_SPARK_JARS_SOURCE="provided", LAKEHOUSE_LAKE_DIR=str(tmp_path / "lake"),
               LAKEHOUSE_LANDING_DIR=str(tmp_path / "landing"), PYSPARK_PYTHON=sys.executable,
               PYSPARK_DRIVER_PYTHON=sys.executable)
    assert run("generate", "--events", "300", env=env).returncode == 0
    submit = Path(sys.executable).parent / "spark-submit"
    driver = Path(__file__).resolve().parents[1] / "scripts" / "lakehouse_driver.py"
    result = subprocess.run(
        [str(submit), "--master", "local[1]", "--driver-memory", "1g",
         "--jars", ",".join([*jar_paths(config.spark.jars_dir, config.spark.packages),
                             jvm_jar_path(config.spark.jars_dir)]),
         "--conf", "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
         "--conf", "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
         str(driver), "ingest", "--available-now"],
        capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ingest: 1 batch(es), 300 records" in result.stdout
    assert (tmp_path / "lake" / "bronze" / "events" / "_delta_log").is_dir()
