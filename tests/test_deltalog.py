"""Idempotent appends through commit marks, and table properties read from the log: real Delta tables."""

from __future__ import annotations

import json

import pytest

from lakehouse import delta, deltalog
from lakehouse.sqltext import quote
from tests.helpers import jobs_run_by

pytestmark = pytest.mark.integration


@pytest.fixture
def new_process():
    """Forget what this process knows of apps and tables, as a restarted job would."""
    def forget_all():
        with deltalog._lock:
            deltalog._known.clear()
            deltalog._recorded.clear()
    forget_all()
    yield forget_all
    forget_all()


def _rows(spark, n: int, tag: str):
    return spark.createDataFrame([(tag, i) for i in range(n)], "tag string, i int")


def _count(spark, path: str) -> int:
    return delta.read_table(spark, path).count()


def test_a_committed_version_is_skipped_before_and_after_a_restart(spark, tmp_path, new_process):
    path = str(tmp_path / "t")
    delta.append(_rows(spark, 3, "a"), path, txn=("app", 0))
    delta.append(_rows(spark, 3, "b"), path, txn=("app", 1))
    delta.append(_rows(spark, 3, "b"), path, txn=("app", 1))  # a replay in the same process
    assert _count(spark, path) == 6

    delta.append(_rows(spark, 2, "other"), path)  # another writer commits meanwhile
    delta.append(_rows(spark, 2, "other"), path, txn=("other-app", 7))
    new_process()
    delta.append(_rows(spark, 3, "b"), path, txn=("app", 1))  # the restarted job replays batch 1
    delta.append(_rows(spark, 3, "a"), path, txn=("app", 0))
    assert _count(spark, path) == 10
    delta.append(_rows(spark, 3, "c"), path, txn=("app", 2))
    assert _count(spark, path) == 13
    assert deltalog.committed_version(spark, path, "other-app")[0] == 7


def test_only_an_apps_first_commit_carries_deltas_own_txn_action(spark, tmp_path, new_process):
    path = str(tmp_path / "t")
    for version in range(3):
        delta.append(_rows(spark, 1, "x"), path, txn=("app", version))
    commits = [deltalog.commit_actions(spark, path, v) for v in range(3)]
    with_txn = [any("txn" in action for action in actions) for actions in commits]
    assert with_txn == [True, False, False]
    assert [deltalog.txn_version(actions, "app") for actions in commits] == [0, 1, 2]
    assert [deltalog.txn_version(actions, "someone-else") for actions in commits] == [None] * 3


def test_commits_written_with_deltas_txn_options_alone_are_honoured(spark, tmp_path, new_process):
    path = str(tmp_path / "t")
    for version in (4, 5):  # as the code before commit marks wrote them
        (_rows(spark, 1, "old").write.format("delta").mode("append")
         .option("txnAppId", "legacy").option("txnVersion", str(version)).save(path))
    delta.append(_rows(spark, 1, "old"), path, txn=("legacy", 5))
    assert _count(spark, path) == 2
    delta.append(_rows(spark, 1, "new"), path, txn=("legacy", 6))
    assert _count(spark, path) == 3


def test_metadata_that_merely_mentions_the_mark_is_not_taken_for_one(spark, tmp_path, new_process):
    path = str(tmp_path / "t")
    delta.append(_rows(spark, 1, "x"), path, txn=("app", 0))
    (_rows(spark, 1, "y").write.format("delta").mode("append")
     .option("userMetadata", f'not json {deltalog.MARK} "app" 99').save(path))
    new_process()
    delta.append(_rows(spark, 1, "z"), path, txn=("app", 1))
    assert _count(spark, path) == 3


def test_an_apps_commit_is_found_behind_many_commits_of_other_writers(spark, tmp_path, new_process):
    path = str(tmp_path / "t")
    delta.append(_rows(spark, 1, "mine"), path, txn=("app", 3))
    for _ in range(deltalog._READ_BEFORE_STATE + 2):
        delta.append(_rows(spark, 1, "theirs"), path)
    new_process()
    assert deltalog.committed_version(spark, path, "app")[0] == 3  # read on past Delta's state
    assert deltalog.committed_version(spark, path, "never-wrote-here")[0] == -1


def test_ensure_table_sets_properties_on_a_table_made_without_them(spark, tmp_path):
    path = str(tmp_path / "t")
    schema = _rows(spark, 1, "x").schema
    delta.ensure_table(spark, path, schema)
    delta.ensure_table(spark, path, schema, properties=delta.stats_columns("tag"))
    delta.ensure_table(spark, path, schema, properties={"delta.logRetentionDuration": "interval 60 days"})
    found = {row["key"]: row["value"] for row in spark.sql(f"SHOW TBLPROPERTIES delta.{quote(path)}").collect()}
    assert found["delta.dataSkippingStatsColumns"] == "tag"
    assert found["delta.logRetentionDuration"] == "interval 60 days"
    assert delta._properties(spark, path, ["delta.dataSkippingStatsColumns", "absent"]) == {
        "delta.dataSkippingStatsColumns": "tag", "absent": None}


def test_append_sets_properties_only_on_a_table_it_creates(spark, tmp_path):
    path = str(tmp_path / "t")
    delta.append(_rows(spark, 2, "a"), path, properties=delta.stats_columns("tag"))
    delta.append(_rows(spark, 2, "b"), path, properties=delta.stats_columns("i"))
    assert delta._properties(spark, path, ["delta.dataSkippingStatsColumns"]) == {"delta.dataSkippingStatsColumns": "tag"}
    added = [json.loads(action["add"]["stats"]) for version in (0, 1)
             for action in deltalog.commit_actions(spark, path, version) if "add" in action]
    assert added and all(set(stats["minValues"]) == {"tag"} for stats in added)


def test_warmed_txn_state_spares_the_first_commit_its_rebuild(spark, tmp_path, new_process):
    cold, warm = str(tmp_path / "cold"), str(tmp_path / "warm")
    for path in (cold, warm):
        delta.append(_rows(spark, 2, "seed"), path)
        delta.read_table(spark, path).count()  # the same warm-up of the read path for both
    for thread in deltalog.warm_txn_state(spark, [warm]):
        thread.join()
    cold_jobs = jobs_run_by(spark, lambda: delta.append(_rows(spark, 2, "x"), cold, txn=("app", 0)))
    warm_jobs = jobs_run_by(spark, lambda: delta.append(_rows(spark, 2, "x"), warm, txn=("app", 0)))
    # The rebuild is three jobs ("Delta: Compute snapshot"); the write itself runs the same jobs.
    assert cold_jobs - warm_jobs >= 2, (cold_jobs, warm_jobs)
    assert [deltalog.committed_version(spark, path, "app")[0] for path in (cold, warm)] == [0, 0]
    assert _count(spark, warm) == 4
