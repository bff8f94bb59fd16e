"""The project's own jar: built from lakehouse/jvm with javac, once per version of its sources."""

import zipfile

import pytest

from lakehouse.errors import SetupError
from lakehouse.jars import build_jvm_jar, jvm_jar_name, jvm_jar_path


def test_the_project_jar_is_built_once_and_holds_the_line_parser(tmp_path):
    with pytest.raises(SetupError, match="lakehouse jars fetch"):
        jvm_jar_path(tmp_path)
    assert build_jvm_jar(tmp_path) is True
    assert build_jvm_jar(tmp_path) is False  # the same sources: nothing to do
    path = jvm_jar_path(tmp_path)
    assert path.endswith(jvm_jar_name())
    with zipfile.ZipFile(path) as jar:
        assert "lakehouse/jvm/SegmentLines.class" in jar.namelist()
    assert [p.name for p in tmp_path.iterdir()] == [jvm_jar_name()]  # no half-written leftovers


def test_the_jar_name_follows_its_sources(monkeypatch, tmp_path):
    import lakehouse.jars as jars

    source = tmp_path / "Other.java"
    monkeypatch.setattr(jars, "_jvm_sources", lambda: [source])
    source.write_text("class Other {}")
    first = jvm_jar_name()
    source.write_text("class Other { int x; }")
    assert jvm_jar_name() != first and first.startswith("lakehouse-jvm-")
