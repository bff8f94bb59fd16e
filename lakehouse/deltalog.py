"""A Delta table's log read directly, and the commit marks that make appends idempotent (also the
home of small-file reads and writes on the lake's file system). A version's file list can be
replayed from the log here too (:func:`replayed_files`), without Delta's state reconstruction.

:func:`lakehouse.delta.append` with ``txn=(app_id, version)`` must skip a write that app already
committed (a micro-batch replayed after a crash). Delta's own ``txnAppId``/``txnVersion`` options
do that, but Delta 4.4 answers "which version did this app commit" by rebuilding the table's
state from its log: three Spark jobs before every such write (an append to a small table took
0.95-1.22 s with them, 0.18-0.23 s with the marks below). So the bookkeeping is done here:

- Every idempotent commit carries a mark in its ``userMetadata``: ``{"lakehouse.txn":
  {"app_id": ..., "version": ...}}`` (``DESCRIBE HISTORY`` shows it).
- An app's first commit to a table (as far as this process can tell from the log) also carries
  Delta's own ``txnAppId``/``txnVersion``, so Delta's state knows every app that ever committed
  there.
- Asking for an app's committed version: this process's own record when it has one (the only
  writer of an app id is the stream that owns it, one process at a time); otherwise the newest
  commit carrying the app's mark or Delta ``txn`` action, read backwards from the latest commit.
  A restarted stream finds its own among the first few. Past 20 commits Delta's state is asked
  whether the app ever committed there (the slow part, once per table and process); if it did,
  the read goes on, so it costs the commits other writers made since the app's latest.

Tables written before marks existed carry Delta's ``txn`` actions, which the backward read also
honours. If log cleanup removed the commit files back past the app's latest mark (a stream
stopped for longer than ``delta.logRetentionDuration``, 30 days by default, while others wrote),
Delta's state gives the answer: the version of the app's first commit there, which errs towards
writing a batch twice, never towards losing one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import urllib.parse

from pyspark.sql import SparkSession

log = logging.getLogger("lakehouse.deltalog")
MARK = "lakehouse.txn"
# Commits read back from the latest before asking Delta's state (a rebuild, ~1 s) whether the
# app committed here at all: a restarted stream finds its own last commit among the first few.
_READ_BEFORE_STATE = 20
_lock = threading.Lock()
_known: dict[tuple[str, str], int] = {}  # (table id, app id) -> newest version committed
_recorded: set[tuple[str, str]] = set()  # (table id, app id) known to have a Delta txn action there


def file_system(spark: SparkSession, path: str):
    """``(Hadoop FileSystem, Path)`` for ``path`` on whatever file system it is."""
    hadoop_path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hadoop_path


def delta_log(spark: SparkSession, path: str):
    """The table's DeltaLog (a JVM object, cached by Delta per path). Raises a py4j error if
    Delta's internals change."""
    return spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)


def snapshot(spark: SparkSession, path: str):
    """The table's latest snapshot (a JVM object; version -1 when there is no table). Through
    DeltaLog, 5 ms a table once its log is cached. Raises a py4j error if Delta's internals change."""
    empty = spark.sparkContext._jvm.scala.Option.empty()
    return delta_log(spark, path).update(False, empty, empty)


def read_text(spark: SparkSession, path: str) -> str | None:
    """The text of the file at ``path`` (any file system Hadoop reaches); None when there is none."""
    fs, hadoop_path = file_system(spark, path)
    if not fs.exists(hadoop_path):
        return None
    stream = fs.open(hadoop_path)
    try:
        return spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def write_text(spark: SparkSession, path: str, text: str | None) -> None:
    """Write ``text`` to the file at ``path``, replacing it (None: delete the file)."""
    fs, hadoop_path = file_system(spark, path)
    if text is None:
        fs.delete(hadoop_path, False)
        return
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def commit_actions(spark: SparkSession, path: str, version: int) -> list[dict] | None:
    """The actions of commit ``version`` of the table at ``path``; None when its file is gone."""
    text = read_text(spark, f"{path.rstrip('/')}/_delta_log/{version:020d}.json")
    if text is None:
        return None
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def mark(app_id: str, version: int) -> str:
    """The ``userMetadata`` of a commit of ``version`` by ``app_id``."""
    return json.dumps({MARK: {"app_id": app_id, "version": version}})


def txn_version(actions: list[dict], app_id: str) -> int | None:
    """The version ``app_id`` committed in a commit's ``actions``, from its mark or Delta txn action."""
    for action in actions:
        if "txn" in action and action["txn"].get("appId") == app_id:
            return int(action["txn"]["version"])
        user_metadata = (action.get("commitInfo") or {}).get("userMetadata")
        if user_metadata and MARK in user_metadata:
            try:
                found = json.loads(user_metadata)[MARK]
            except (ValueError, TypeError, KeyError):
                continue  # someone else's metadata that merely mentions the key
            if found.get("app_id") == app_id:
                return int(found["version"])
    return None


def committed_version(spark: SparkSession, path: str, app_id: str) -> tuple[int, str | None]:
    """``(newest version app_id committed to the table at path or -1, the table's id or None)``."""
    snap = snapshot(spark, path)
    latest = int(snap.version())
    if latest < 0:
        return -1, None
    table = str(snap.metadata().id())
    with _lock:
        if (table, app_id) in _known:
            return _known[(table, app_id)], table
    found, recorded = -1, None
    for version in range(latest, -1, -1):
        if recorded is None and latest - version == _READ_BEFORE_STATE:
            recorded = _delta_txn_version(snap, app_id)
            if recorded < 0:
                break  # the app never committed here: no need to read further back
        actions = commit_actions(spark, path, version)
        if actions is None:  # cleaned up: Delta's record is what is left
            found = _delta_txn_version(snap, app_id) if recorded is None else recorded
            break
        in_commit = txn_version(actions, app_id)
        if in_commit is not None:
            found = in_commit
            break
    with _lock:
        if found >= 0:  # a mark or txn action: the app's first commit here carried Delta's own
            _recorded.add((table, app_id))
        return _known.setdefault((table, app_id), found), table


def _delta_txn_version(snap, app_id: str) -> int:
    """The version Delta's state records for ``app_id`` (-1: none). Rebuilds the state: slow."""
    recorded = snap.transactions().get(app_id)
    return int(recorded.get()) if recorded.isDefined() else -1


def warm_txn_state(spark: SparkSession, paths: list[str]) -> list[threading.Thread]:
    """Rebuild Delta's txn state of these tables now, each on a background thread.

    For an app about to make its first commit to each table (a stream on a fresh checkpoint):
    that commit carries Delta's own txn options, and Delta's check of them rebuilds the table's
    state (three small Spark jobs, 0.3-0.8 s a table). Rebuilt here while the stream starts, the
    state is already there when the commit asks (the snapshot caches it; a commit in between
    only means the commit rebuilds it again). Failures are only logged: this is a warm-up.
    """
    def warm(path: str) -> None:
        try:
            snapshot(spark, path).transactions()
        except Exception as error:  # noqa: BLE001 - the commit will rebuild the state itself
            log.debug("warming the txn state of %s failed: %s", path, error)

    threads = [threading.Thread(target=warm, args=(path,), name=f"warm-txn-{index}", daemon=True)
               for index, path in enumerate(paths)]
    for thread in threads:
        thread.start()
    return threads


def needs_delta_txn(table: str | None, app_id: str) -> bool:
    """Whether a commit of ``app_id`` to ``table`` should also carry Delta's own txn action: when
    neither Delta's state nor this process shows one yet (or the table does not exist yet)."""
    with _lock:
        return table is None or (table, app_id) not in _recorded


def note_committed(spark: SparkSession, path: str, app_id: str, version: int, *, table: str | None,
                   delta_txn: bool) -> None:
    """Record that ``app_id`` just committed ``version`` to the table at ``path`` (whose id is
    ``table``, None when this commit created it)."""
    table = table or str(snapshot(spark, path).metadata().id())
    with _lock:
        _known[(table, app_id)] = max(version, _known.get((table, app_id), -1))
        if delta_txn:
            _recorded.add((table, app_id))


def forget(table: str | None, app_id: str) -> None:
    """Drop what this process knows of ``app_id`` on ``table`` (after a failed write, which may
    have committed all the same): the next question reads the log again."""
    with _lock:
        for key in [k for k in _known if k[1] == app_id and (table is None or k[0] == table)]:
            del _known[key]


# A classic single-file checkpoint; multi-part and V2 (UUID-named) ones are not read here.
_CHECKPOINT = re.compile(r"^(\d{20})\.checkpoint\.parquet$")
# Past this many files the replay's JVM calls (two per file) would cost as much as a state rebuild.
MAX_REPLAYED_FILES = 5_000


def replayed_files(spark: SparkSession, path: str, version: int) -> list[str] | None:
    """The ``add`` actions, as Delta JSON lines, of the files that make up ``version`` of the table
    at ``path``, replayed from its log in this process: the newest classic checkpoint at or before
    ``version`` (Parquet, read with pyarrow), then the commits after it, in order (an ``add`` puts
    a file, a ``remove`` takes it out, keyed by path and deletion vector, as Delta does).

    None when that is not possible here, and the caller asks Delta's state instead: a table not
    on a local file system, a commit file gone (log cleanup), no usable checkpoint and no commit 0,
    more than :data:`MAX_REPLAYED_FILES` files.
    """
    parsed = urllib.parse.urlparse(path)
    if parsed.scheme not in ("", "file"):
        return None
    local = urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else path  # a file: URI is %-encoded
    log_dir = os.path.join(local, "_delta_log")
    try:
        names = os.listdir(log_dir)
    except OSError:
        return None
    checkpoints = [int(m.group(1)) for m in map(_CHECKPOINT.match, names) if m and int(m.group(1)) <= version]
    start = max(checkpoints, default=-1)
    files: dict[tuple, dict] = {}
    if start >= 0:
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(os.path.join(log_dir, f"{start:020d}.checkpoint.parquet"), columns=["add"])
        except (OSError, KeyError, ValueError) as exc:  # gone meanwhile, or not the layout expected
            log.info("%s: checkpoint %d not replayed here (%s)", path, start, exc)
            return None
        for add in table.column("add").to_pylist():
            if add is not None:
                add = _json_add(add)
                files[_file_key(add)] = add
    for commit in range(start + 1, version + 1):
        actions = commit_actions(spark, local, commit)
        if actions is None:  # cleaned up (or never there: a table that starts at a later checkpoint)
            return None
        for action in actions:
            if "add" in action:
                files[_file_key(action["add"])] = action["add"]
            elif "remove" in action:
                files.pop(_file_key(action["remove"]), None)
    if len(files) > MAX_REPLAYED_FILES:
        return None
    return [json.dumps({"add": add}) for add in files.values()]


def _json_add(add: dict) -> dict:
    """A checkpoint's ``add`` row as the commit JSON has it: maps as objects, no nulls, and without
    the ``*_parsed`` columns a checkpoint may add."""
    out = {}
    for key, value in add.items():
        if value is None or key.endswith("_parsed"):
            continue
        if key in ("partitionValues", "tags") and isinstance(value, list):
            value = dict(value)
        elif isinstance(value, dict):
            value = {k: v for k, v in value.items() if v is not None}
        out[key] = value
    return out


def _file_key(action: dict) -> tuple:
    vector = action.get("deletionVector") or {}
    return (action["path"], vector.get("storageType"), vector.get("pathOrInlineDv"), vector.get("offset"))


def replayed_file_actions(spark: SparkSession, path: str, version: int):
    """:func:`replayed_files` as the Scala ``Seq[AddFile]`` Delta's readers take, or None."""
    texts = replayed_files(spark, path, version)
    if texts is None:
        return None
    jvm = spark.sparkContext._jvm
    actions = jvm.java.util.ArrayList()
    for text in texts:
        actions.add(jvm.org.apache.spark.sql.delta.actions.Action.fromJson(text))
    return jvm.scala.jdk.javaapi.CollectionConverters.asScala(actions).toList()
