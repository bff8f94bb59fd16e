"""The quality gate on small Delta tables: each severity, the record it leaves, user suites, and
the export it blocks."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from gold.export import run_export
from lakehouse import delta
from lakehouse.config import with_values
from lakehouse.errors import ConfigError, DataQualityError
from lakehouse.tables import Lake
from lakehouse.warehouse import Target, open_warehouse
from quality.checks import load_suites
from lakehouse.status import gate_decisions, gate_verdicts
from quality.gate import QualityPaths, run_gate
from tests.helpers import jobs_run_by

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 27, 12, 0)
PAGES = ("source_id string, id string, user_id string, anonymous_id string, timestamp timestamp, "
         "received_at timestamp, name string")


def page(id_, *, at=NOW, received=NOW, user="u1"):
    return ("s", id_, user, None, at, received, "Home")


def write(spark, config, table, rows, schema=PAGES):
    layer, name = table.split(".")
    path = getattr(Lake(config.lake.dir), layer)(name)
    delta.append(spark.createDataFrame(rows, schema), path)
    return path


def test_warn_drop_and_fail_each_do_what_they_say_and_are_recorded(spark, lake_config):
    path = write(spark, lake_config, "silver.pages", [
        page("ok1"), page("ok2"),
        page(None),  # fail: ids_not_null
        page("old", at=datetime(1990, 1, 1)),  # drop: timestamp_in_sane_range
        # drop (future: the check compares with the clock, not the gate's now) and warn (skew)
        page("skewed", at=datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=3), received=NOW),
    ])
    with pytest.raises(DataQualityError, match=r"silver.pages \(ids_not_null\)"):
        run_gate(spark, lake_config, ("silver.pages",), now=NOW)
    paths = QualityPaths.from_config(lake_config)
    remaining = sorted(str(r["id"]) for r in delta.read_table(spark, path).collect())
    assert remaining == ["None", "ok1", "ok2"]  # the dropped rows left the table; the failing one stays
    quarantine = sorted((r["check"], r["row"].split('"id":"')[1].split('"')[0])
                        for r in delta.read_table(spark, paths.quarantine).collect())
    assert quarantine == [("timestamp_in_sane_range", "old"), ("timestamp_in_sane_range", "skewed")]
    gate = delta.read_table(spark, paths.gate).collect()
    assert [(g["table"], g["passed"], g["failed_checks"], g["dropped_rows"]) for g in gate] == [
        ("silver.pages", False, "ids_not_null", 2)]
    assert "received_not_before_event_beyond_skew" in gate[0]["warnings"]
    history = {r["check"]: r for r in delta.read_table(spark, paths.history).collect()}
    assert history["ids_not_null"]["unexpected_count"] == 1 and history["ids_not_null"]["severity"] == "fail"
    assert history["timestamp_in_sane_range"]["unexpected_count"] == 2
    assert history["message_id_unique_per_tenant"]["success"] is True
    assert gate_verdicts(spark, Lake(lake_config.lake.dir)) == {"silver.pages": False}


def test_a_failed_table_is_not_exported_and_the_others_are(spark, lake_config, tmp_path):
    config = with_values(lake_config, warehouse={"url": f"duckdb:///{tmp_path}/wh.duckdb"})
    write(spark, config, "silver.pages", [page("p1"), page("p1")])  # duplicate id: fails uniqueness
    write(spark, config, "silver.screens", [page("s1")])
    verdicts = {v.table: v.passed for v in run_gate(spark, config, raise_on_failure=False, now=NOW)}
    assert verdicts == {"silver.pages": False, "silver.screens": True}
    results = run_export(spark, config, gate=gate_decisions(spark, Lake(config.lake.dir)))
    assert [r.table for r in results] == ["screens"]
    with open_warehouse(config.warehouse.url) as wh:
        assert wh.query('SELECT id FROM analytics.screens') == [("s1",)]
        assert not wh.columns(Target("analytics", "pages"))


def test_the_export_loads_only_the_version_the_gate_judged(spark, lake_config, tmp_path):
    config = with_values(lake_config, warehouse={"url": f"duckdb:///{tmp_path}/wh.duckdb"})
    lake = Lake(config.lake.dir)
    write(spark, config, "silver.pages", [page("p1")])
    run_gate(spark, config, now=NOW)
    write(spark, config, "silver.pages", [page("late")])  # a silver batch after the gate ran

    def exported():
        run_export(spark, config, gate=gate_decisions(spark, lake))
        with open_warehouse(config.warehouse.url) as wh:
            return sorted(r[0] for r in wh.query("SELECT id FROM analytics.pages"))

    assert exported() == ["p1"]  # the unjudged row waits
    run_gate(spark, config, now=NOW)
    assert exported() == ["late", "p1"]
    write(spark, config, "silver.pages", [page(None)])  # fails ids_not_null at the next gate
    run_gate(spark, config, raise_on_failure=False, now=NOW)
    assert exported() == ["late", "p1"]  # a failed table is not loaded at all


def test_a_per_event_table_waits_for_the_tracks_version_the_gate_judged(spark, lake_config, tmp_path):
    config = with_values(lake_config, warehouse={"url": f"duckdb:///{tmp_path}/wh.duckdb"})
    lake = Lake(config.lake.dir)
    tracks = PAGES.replace("name string", "event string")

    def silver_batch(*ids):  # as silver writes a batch: the per-event table, then tracks
        write(spark, config, "silver.signed_up", [page(i)[:-1] + ("Signed Up",) for i in ids], tracks)
        write(spark, config, "silver.tracks", [page(i)[:-1] + ("Signed Up",) for i in ids], tracks)

    def exported(table):
        results = {r.table: r for r in run_export(spark, config, gate=gate_decisions(spark, lake))}
        with open_warehouse(config.warehouse.url) as wh:
            return results[table], sorted(r[0] for r in wh.query(f"SELECT id FROM analytics.{table}"))

    silver_batch("t1")
    run_gate(spark, config, now=NOW)
    silver_batch("t2")  # after the gate: neither tracks nor signed_up may load it yet
    assert exported("signed_up")[1] == ["t1"] and exported("tracks")[1] == ["t1"]
    run_gate(spark, config, now=NOW)
    assert exported("signed_up")[1] == ["t1", "t2"]
    delta.remove_tree(spark, lake.silver("tracks"))  # a full refresh rebuilds tracks: not judged yet
    silver_batch("t3")
    result, ids = exported("signed_up")
    assert ids == ["t1", "t2"] and "rebuilt" in result.held


def test_history_accumulates_and_row_volume_flags_a_spike(spark, lake_config):
    modes = []
    for run, new_rows in enumerate([10, 10, 10, 100]):
        write(spark, lake_config, "silver.screens", [page(f"r{run}-{i}") for i in range(new_rows)])
        verdict, = run_gate(spark, lake_config, ("silver.screens",), now=NOW)
        modes.append((verdict.mode, verdict.validated_rows))
        if run == 0:  # the record's tables are made during a lake's first gate, quarantine too (empty)
            assert delta.read_table(spark, QualityPaths.from_config(lake_config).quarantine).count() == 0
    assert modes == [("full", 10), ("incremental", 10), ("incremental", 10), ("incremental", 100)]
    unchanged, = run_gate(spark, lake_config, ("silver.screens",), now=NOW)  # nothing new: the verdict stands
    assert (unchanged.mode, unchanged.passed) == ("unchanged", True)
    history = delta.read_table(spark, QualityPaths.from_config(lake_config).history)
    assert history.select("run_id").distinct().count() == 4  # the unchanged run validated nothing
    volume = {r["validated_at"]: r for r in history.filter("check = 'row_volume'").collect()}
    assert len(volume) >= 1 and not [r for r in verdict.results if r.check.name == "row_volume"][0].success
    assert verdict.passed  # row volume is a warning


def test_the_gate_memo_stands_in_for_reading_the_record_until_someone_else_writes_it(spark, lake_config, monkeypatch):
    import quality.gate as gate
    from quality import memo, report

    reads = []
    for name in ("recent_history", "latest_gate_rows"):
        real = getattr(gate, name)
        monkeypatch.setattr(gate, name, lambda *a, real=real, name=name, **k: reads.append(name) or real(*a, **k))
    paths = QualityPaths.from_config(lake_config)
    read_per_run, volume = [], []
    for run, new_rows in enumerate([10, 10, 10, 100]):
        write(spark, lake_config, "silver.screens", [page(f"r{run}-{i}") for i in range(new_rows)])
        verdict, = run_gate(spark, lake_config, ("silver.screens",), now=NOW)
        read_per_run.append(len(reads))
        volume.append([r for r in verdict.results if r.check.name == "row_volume"][0].success)
    assert read_per_run == [0, 0, 0, 0] and volume == [True, True, True, False]  # the spike, counted from the memo
    # The memo holds what Delta holds.
    versions = {"history": delta.version_and_id(spark, paths.history), "gate": delta.version_and_id(spark, paths.gate)}
    runs = max(report.TREND_RUNS, 5 + 1)  # the report's trend, the volume check's 5 runs and this one
    record = memo.load(spark, paths.memo, versions, runs)
    assert record is not None
    history, latest = gate.recent_history(spark, paths.history, runs), gate.latest_gate_rows(spark, Lake(lake_config.lake.dir))
    key = lambda row: (row["run_id"], row["check"])  # noqa: E731
    assert sorted(record.history, key=key) == sorted(history, key=key)
    assert record.latest == {table: row.asDict() for table, row in latest.items()}
    # Another writer of the gate table: the memo no longer matches, the next run reads Delta.
    delta.append(spark.createDataFrame([dict(record.latest["silver.screens"], run_id="other")], gate.GATE_SCHEMA), paths.gate)
    reads.clear()
    write(spark, lake_config, "silver.screens", [page("late")])
    run_gate(spark, lake_config, ("silver.screens",), now=NOW)
    assert sorted(reads) == ["latest_gate_rows", "recent_history"]
    reads.clear()
    write(spark, lake_config, "silver.screens", [page("later")])
    run_gate(spark, lake_config, ("silver.screens",), now=NOW)
    assert reads == []  # that run left a memo again


def test_a_gate_memo_that_is_broken_or_stale_is_ignored(spark, tmp_path):
    from lakehouse import deltalog
    from quality import memo

    path, versions = str(tmp_path / "gate_memo.json"), {"history": (1, "h"), "gate": (2, "g")}
    good = memo.Record([{"table": "t", "run_id": "r", "validated_at": NOW}], {"t": {"decided_at": NOW}}, versions, 6)
    deltalog.write_text(spark, path, "")
    assert memo.load(spark, path, versions, 6) is None
    for text in ("not json", "[1, 2]", '{"format": 1, "runs": 6}',
                 '{"format": 1, "runs": 6, "versions": {"history": [1, "h"], "gate": [2, "g"]}}'):
        deltalog.write_text(spark, path, text)
        assert memo.load(spark, path, versions, 6) is None, text
    assert memo.load(spark, str(tmp_path / "none.json"), versions, 6) is None
    assert not memo.save(spark, path, good, {"history": str(tmp_path / "h"), "gate": str(tmp_path / "g")})
    assert deltalog.read_text(spark, path) is None  # the tables are not at its versions: removed


def test_users_add_checks_in_yaml_and_bad_files_are_named(spark, lake_config, tmp_path):
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "silver.pages.yaml").write_text(
        "- name: home_only\n  kind: rows\n  unexpected: \"name <> 'Home'\"\n  severity: fail\n")
    config = with_values(lake_config, quality={"suites_dir": str(suites)})
    write(spark, config, "silver.pages", [page("a"), ("s", "b", "u", None, NOW, NOW, "Pricing")], PAGES)
    with pytest.raises(DataQualityError, match="home_only"):
        run_gate(spark, config, ("silver.pages",), now=NOW)
    (suites / "silver.pages.yaml").write_text("- name: x\n  kind: rows\n  severity: drop\n")
    with pytest.raises(ConfigError, match="silver.pages.yaml|needs 'unexpected'"):
        load_suites(str(suites), 60, 60)
    (suites / "silver.pages.yaml").write_text("- name: x\n  kind: volume\n  severity: drop\n")
    with pytest.raises(ConfigError, match="only 'rows' checks can drop"):
        load_suites(str(suites), 60, 60)


def test_a_table_that_cannot_be_validated_fails_alone_and_is_validated_again_next_run(spark, lake_config, tmp_path):
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "silver.pages.yaml").write_text(  # a typo: pages have no column "nmae"
        "- name: home_only\n  kind: rows\n  unexpected: \"nmae <> 'Home'\"\n  severity: warn\n")
    config = with_values(lake_config, quality={"suites_dir": str(suites)})
    write(spark, config, "silver.pages", [page("a")])
    write(spark, config, "silver.screens", [page("b")])
    with pytest.raises(DataQualityError, match=r"silver.pages \(gate_error \(.*nmae"):
        run_gate(spark, config, ("silver.pages", "silver.screens"), now=NOW)
    # The other table's verdict is recorded, so its export goes on; the broken one's blocks its own.
    assert gate_verdicts(spark, Lake(config.lake.dir)) == {"silver.pages": False, "silver.screens": True}
    history = delta.read_table(spark, QualityPaths.from_config(config).history).filter("check = 'gate_error'")
    assert [(r["table"], r["success"], "nmae" in r["observed_value"]) for r in history.collect()] == [
        ("silver.pages", False, True)]
    # Fixed, with no new rows: the table is validated again, not carried over as failed.
    (suites / "silver.pages.yaml").write_text(
        "- name: home_only\n  kind: rows\n  unexpected: \"name <> 'Home'\"\n  severity: warn\n")
    pages, screens = run_gate(spark, config, ("silver.pages", "silver.screens"), now=NOW)
    assert (pages.mode, pages.passed, screens.mode) == ("full", True, "unchanged")


def test_a_verdict_is_carried_over_only_while_the_suite_stays_the_same(spark, lake_config, tmp_path):
    from pyspark.sql.types import StructType

    from quality.gate import GATE_SCHEMA

    # A gate table made before verdicts kept their suite's fingerprint: the first record adds the column.
    older = StructType([f for f in GATE_SCHEMA.fields if f.name != "suite"])
    delta.ensure_table(spark, QualityPaths.from_config(lake_config).gate, older)
    suites = tmp_path / "suites"
    suites.mkdir()
    config = with_values(lake_config, quality={"suites_dir": str(suites)})
    write(spark, config, "silver.pages", [page("a"), ("s", "b", "u", None, NOW, NOW, "Pricing")])
    first, = run_gate(spark, config, ("silver.pages",), now=NOW)
    again, = run_gate(spark, config, ("silver.pages",), now=NOW)
    assert (first.mode, first.passed, again.mode) == ("full", True, "unchanged")
    # A check added with no new rows: the table is validated again, whole, and fails.
    (suites / "silver.pages.yaml").write_text(
        "- name: home_only\n  kind: rows\n  unexpected: \"name <> 'Home'\"\n  severity: fail\n")
    with pytest.raises(DataQualityError, match="home_only"):
        run_gate(spark, config, ("silver.pages",), now=NOW)
    gate = {(g["mode"], g["passed"]): g["suite"] for g in delta.read_table(spark, QualityPaths.from_config(config).gate).collect()}
    assert sorted(gate) == [("full", False), ("full", True), ("unchanged", True)]
    assert None not in gate.values() and gate[("full", True)] == gate[("unchanged", True)] != gate[("full", False)]


def test_the_html_report_opens_in_headless_chromium_and_shows_the_failing_check(spark, lake_config, tmp_path):
    write(spark, lake_config, "silver.pages", [page("ok"), page(None)])
    with pytest.raises(DataQualityError):
        run_gate(spark, lake_config, ("silver.pages",), now=NOW)
    report = Path(QualityPaths.from_config(lake_config).reports) / "quality.html"
    command = [shutil.which("chromium") or "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
               "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={tmp_path / 'chromium'}", "--enable-logging=stderr", "--v=0",
               "--dump-dom", report.as_uri()]
    shown = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = shown.stdout
    assert "1 of 1 tables did not pass: silver.pages" in dom
    failing_row = dom[dom.index("<code>ids_not_null</code>"):].split("</tr>")[0]
    assert 'class="failed">failed<' in failing_row and "<td>1</td>" in failing_row  # one unexpected row
    console_errors = [line for line in shown.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console_errors == []
    gx_pages = list((report.parent / "gx").glob("*/silver.pages.html"))
    assert gx_pages and "ids_not_null" in gx_pages[0].read_text()


def test_row_checks_and_key_uniqueness_count_in_gx_with_bundled_jobs_and_sample_failures(spark):
    from quality.checks import Check
    from quality.gate import GXRunner, run_gx

    frame_df = spark.createDataFrame(
        [("s", "a", 1), ("s", "a", 2), ("s", "b", None), ("t", "a", 3), (None, None, 4), (None, None, 5)],
        "source_id string, id string, `odd name; --` int").cache()
    rows = [Check(f"rows_{i}", "rows", "warn", unexpected=condition) for i, condition in enumerate([
        "id IS NULL", "`odd name; --` > 3", "`odd name; --` > 100", "`odd name; --` IS NULL OR `odd name; --` < 2",
        "\"; drop table users; --\" = id"])]
    unique = Check("keys_unique", "expectation", "fail", expectation="expect_keys_unique",
                   kwargs={"column_list": ["source_id", "id"]})
    runner = GXRunner()
    results, validation, summary = run_gx(runner, "silver.pages", frame_df, rows + [unique])
    counts = {name: (r.success, r.unexpected_count, r.element_count) for name, r in results.items()}
    assert counts == {"rows_0": (False, 2, 6), "rows_1": (False, 2, 6), "rows_2": (True, 0, 6),
                      "rows_3": (False, 2, 6),  # NULL OR false is NULL: not a failing row, as in WHERE
                      "rows_4": (True, 0, 6), "keys_unique": (False, 2, 6)}  # all-NULL keys are left out
    assert sorted(r["odd name; --"] for r in results["rows_1"].sample) == [4, 5]
    assert results["keys_unique"].sample == [{"source_id": "s", "id": "a", "count": 2}]
    assert results["rows_2"].sample == [] and validation.success is False and summary is None
    # GX bundles the row checks' counts into one aggregate: five checks run as many jobs as one.
    passing = [Check(f"ok_{i}", "rows", "warn", unexpected=f"id = 'none{i}'") for i in range(5)]
    one = jobs_run_by(spark, lambda: run_gx(runner, "t", frame_df, passing[:1]))
    five = jobs_run_by(spark, lambda: run_gx(runner, "t", frame_df, passing))
    assert five == one >= 1
    # The row count and newest received_at for volume and freshness come from that same aggregate.
    timed_df = frame_df.withColumn("received_at", F.expr("timestamp'2026-11-27 08:00:00' + make_interval(0, 0, 0, 0, `odd name; --`)"))
    runs = []
    summarized = jobs_run_by(spark, lambda: runs.append(run_gx(runner, "t", timed_df, passing, summarize="received_at")))
    results, _, summary = runs[0]
    assert summary == {"rows": 6, "newest": datetime(2026, 11, 27, 13, 0)} and summarized == one and len(results) == 5
    assert run_gx(runner, "t", timed_df.limit(0), [], summarize="received_at")[2] == {"rows": 0, "newest": None}


def test_key_uniqueness_counts_exactly_when_different_keys_hash_alike(spark):
    from quality.expectations import duplicate_key_rows

    schema = "source_id string, id string"
    # xxhash64 skips NULLs, so these two keys hash alike: the hash alone would call them duplicates.
    collide_df = spark.createDataFrame([(None, "a"), ("a", None), ("s", "b")], schema)
    hashes = collide_df.select(F.xxhash64("source_id", "id").alias("h")).collect()
    assert hashes[0]["h"] == hashes[1]["h"] != hashes[2]["h"]
    assert duplicate_key_rows(collide_df, ["source_id", "id"]) == 0
    repeated_df = spark.createDataFrame([("s", "a"), ("s", "a"), (None, "a"), ("a", None), ("s", "a")], schema)
    assert duplicate_key_rows(repeated_df, ["source_id", "id"]) == 3
    # New rows against the whole table: the table's rows with a new row's key are counted.
    table_df = repeated_df.union(spark.createDataFrame([("t", "c")], schema))
    new_df = spark.createDataFrame([("a", None), ("t", "c")], schema)
    assert duplicate_key_rows(new_df, ["source_id", "id"], table_df) == 0
    assert duplicate_key_rows(new_df.union(repeated_df.limit(1)), ["source_id", "id"], table_df) == 3


def test_a_check_whose_metric_cannot_be_computed_is_an_error_naming_it(spark):
    """GX reports an exception in a metric under the metric's id, not at the top of the result:
    read naively, the check would look failed (a verdict about the data) instead of broken."""
    from quality.checks import Check
    from quality.gate import GXRunner, run_gx

    frame_df = spark.createDataFrame([("s", "a")], "source_id string, id string")
    missing = Check("keys_missing", "expectation", "fail", expectation="expect_keys_unique",
                    kwargs={"column_list": ["source_id", "nope"]})
    with pytest.raises(DataQualityError, match="'keys_missing' could not run.*nope"):
        run_gx(GXRunner(), "t", frame_df, [missing])


def test_the_gate_runs_without_adaptive_execution_and_gives_the_session_its_confs_back(spark, lake_config, monkeypatch):
    import quality.gate as gate

    seen, real_run_gx = [], gate.run_gx

    def recording_run_gx(*args, **kwargs):
        seen.append({key: spark.conf.get(key, None) for key in gate.GATE_CONFS})
        return real_run_gx(*args, **kwargs)

    monkeypatch.setattr(gate, "run_gx", recording_run_gx)
    before = {key: spark.conf.get(key, None) for key in gate.GATE_CONFS}
    write(spark, lake_config, "silver.pages", [page("a"), page("b")])
    assert run_gate(spark, lake_config, ("silver.pages",), now=NOW)[0].passed
    assert seen == [gate.GATE_CONFS] and gate.GATE_CONFS
    assert {key: spark.conf.get(key, None) for key in gate.GATE_CONFS} == before != gate.GATE_CONFS


def test_a_verdict_covers_the_version_validated_not_rows_appended_meanwhile(spark, lake_config, monkeypatch):
    import quality.gate as gate

    path = write(spark, lake_config, "silver.pages", [page("a"), page("old", at=datetime(1990, 1, 1))])
    validated = delta.version_and_id(spark, path)[0]
    real_drop = gate._drop

    def drop_while_silver_appends(spark_, table, path_, version, *args):
        write(spark, lake_config, "silver.pages", [page("late")])  # the silver stream commits meanwhile
        return real_drop(spark_, table, path_, version, *args)

    monkeypatch.setattr(gate, "_drop", drop_while_silver_appends)
    verdict, = run_gate(spark, lake_config, ("silver.pages",), now=NOW)
    deleted_at = [r["version"] for r in spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect() if r["operation"] == "DELETE"]
    assert (verdict.dropped_rows, verdict.table_version) == (1, deleted_at[0]) and deleted_at[0] == validated + 2
    write(spark, lake_config, "silver.pages", [page("b")])
    judged = delta.version_and_id(spark, path)[0]
    verdict, = run_gate(spark, lake_config, ("silver.pages",), now=NOW)  # nothing to drop this time
    assert verdict.table_version == judged < delta.version_and_id(spark, path)[0]
    assert gate_decisions(spark, Lake(lake_config.lake.dir))["silver.pages"].table_version == judged


def test_an_incremental_run_finds_a_key_repeated_from_earlier_rows_and_passes_updated_rows(spark, lake_config):
    write(spark, lake_config, "silver.pages", [page("a"), page("b")])
    first, = run_gate(spark, lake_config, ("silver.pages",), now=NOW)
    assert (first.mode, first.passed) == ("full", True)
    write(spark, lake_config, "silver.pages", [page("c"), page("a")])  # message a resent, a run later
    with pytest.raises(DataQualityError, match=r"silver.pages \(message_id_unique_per_tenant\)"):
        run_gate(spark, lake_config, ("silver.pages",), now=NOW)
    paths = QualityPaths.from_config(lake_config)
    gate = delta.read_table(spark, paths.gate).orderBy("decided_at", "table_version").collect()
    assert [(g["mode"], g["validated_rows"]) for g in gate] == [("full", 2), ("incremental", 2)]
    unique = delta.read_table(spark, paths.history).filter("check = 'message_id_unique_per_tenant' AND NOT success").collect()
    assert [(r["unexpected_count"], r["sample"]) for r in unique] == [(2, '[{"source_id": "s", "id": "a", "count": 2}]')]

    users = write(spark, lake_config, "silver.users", [("s", "u1", "free"), ("s", "u2", "free")],
                  "source_id string, id string, plan string")
    assert run_gate(spark, lake_config, ("silver.users",), now=NOW)[0].passed
    DeltaTable.forPath(spark, users).update("id = 'u1'", {"plan": "'pro'"})  # a trait changed: same key
    verdict, = run_gate(spark, lake_config, ("silver.users",), now=NOW)
    assert (verdict.mode, verdict.validated_rows, verdict.passed) == ("incremental", 1, True)
