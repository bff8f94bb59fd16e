import pytest

from lakehouse.config import DELTA_PACKAGES, describe, env_var, load_config
from lakehouse.errors import ConfigError


def test_defaults_are_embedded():
    config = load_config(env={})
    assert config.lake.dir == "./lake"
    assert config.landing.dir == "./landing"
    assert config.bronze.trigger_seconds == 10
    assert config.spark.packages == DELTA_PACKAGES


def test_file_then_environment_override(tmp_path):
    path = tmp_path / "lakehouse.toml"
    path.write_text('[lake]\ndir = "s3a://bucket/lake"\n[bronze]\ntrigger_seconds = 30\n'
                    '[spark.conf]\n"spark.hadoop.fs.s3a.endpoint" = "http://127.0.0.1:9000"\n')
    config = load_config(path, env={"LAKEHOUSE_BRONZE_TRIGGER_SECONDS": "5", "LAKEHOUSE_LANDING_DIR": "/in"})
    assert config.lake.dir == "s3a://bucket/lake"
    assert config.bronze.trigger_seconds == 5
    assert config.landing.dir == "/in"
    assert dict(config.spark.conf) == {"spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000"}


def test_config_file_from_environment(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[landing]\ndir = "/data/landing"\n')
    assert load_config(env={"LAKEHOUSE_CONFIG": str(path)}).landing.dir == "/data/landing"


def test_list_from_environment():
    config = load_config(env={"LAKEHOUSE_SPARK_PACKAGES": "a:b:1, c:d:2"})
    assert config.spark.packages == ("a:b:1", "c:d:2")


@pytest.mark.parametrize("text, needle", [
    ('[bronze]\ntriger_seconds = 3\n', "unknown key 'bronze.triger_seconds'"),
    ('[bronz]\nx = 1\n', "unknown section(s) bronz"),
    ('[bronze]\ntrigger_seconds = "soon"\n', "bad value for 'bronze.trigger_seconds'"),
    ('[bronze]\ntrigger_seconds = 0\n', "'bronze.trigger_seconds' must be a positive number"),
    ('[spark]\njars_source = "web"\n', "'spark.jars_source' must be one of dir, packages, provided"),
    ('[landing]\nclean_source = "archive"\n', "'landing.archive_dir' is required"),
    ('lake = [', "is not valid TOML"),
])
def test_bad_settings_name_the_key(tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_config(path, env={})
    assert needle in str(error.value)


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ConfigError, match="LAKEHOUSE_BRONZE_MAX_EVENT_BYTES"):
        load_config(env={"LAKEHOUSE_BRONZE_MAX_EVENT_BYTES": "big"})


def test_missing_file_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="does not exist; fix --config or LAKEHOUSE_CONFIG"):
        load_config(tmp_path / "nope.toml", env={})


def test_every_key_has_its_environment_variable():
    rows = describe(load_config(env={}))
    assert ("lake.dir", "LAKEHOUSE_LAKE_DIR", "./lake") in rows
    assert env_var("landing", "dir") == "LAKEHOUSE_LANDING_DIR"
    assert len(rows) == len({key for key, _, _ in rows})


def test_readme_documents_every_key_and_its_variable():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for key, env, _ in describe(load_config(env={})):
        if key in ("spark.conf", "warehouse.tenant_schemas", "warehouse.tenant_urls"):  # TOML tables
            assert f"| `{key}` | (file only) |" in readme, key
        else:
            assert f"| `{key}` | `{env}` |" in readme, key


def test_a_catalog_schema_must_be_a_plain_name():
    from lakehouse.errors import ConfigError

    assert load_config(env={"LAKEHOUSE_LAKE_CATALOG": "glue.analytics"}).lake.catalog == "glue.analytics"
    with pytest.raises(ConfigError, match="LAKEHOUSE_LAKE_CATALOG"):
        load_config(env={"LAKEHOUSE_LAKE_CATALOG": "x; drop table users"})
