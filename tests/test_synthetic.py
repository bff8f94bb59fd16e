import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

from lakehouse.synthetic import catalog
from lakehouse.synthetic.writer import GenerateSpec, generate

DAY = datetime(2026, 11, 1, tzinfo=timezone.utc)


def read_lines(path: str) -> list[str]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


def test_same_seed_same_bytes_different_seed_different_bytes(tmp_path):
    spec = GenerateSpec(events=3000, events_per_file=1000, day=DAY, seed=7)
    first = generate(tmp_path / "a", spec, workers=1)
    second = generate(tmp_path / "b", spec, workers=2)
    other = generate(tmp_path / "c", GenerateSpec(events=3000, events_per_file=1000, day=DAY, seed=8), workers=1)
    for a, b, c in zip(first.files, second.files, other.files):
        assert Path(a).read_bytes() == Path(b).read_bytes()
        assert Path(a).read_bytes() != Path(c).read_bytes()


def test_traffic_is_realistic(tmp_path):
    report = generate(tmp_path, GenerateSpec(events=20_000, day=DAY, trouble_rate=0.0), workers=1)
    messages = []
    for path in report.files:
        for line in read_lines(path):
            payload = json.loads(line)
            messages.extend(payload["batch"] if "batch" in payload else [payload])
    assert len(messages) == report.messages == 20_000
    types = {m["type"] for m in messages}
    assert types == {"track", "page", "screen", "identify", "group", "alias"}
    events = {m["event"] for m in messages if m["type"] == "track"}
    assert len(events) > 100  # a long tail of event names
    assert any("batch" in json.loads(line) for line in read_lines(report.files[0]))
    assert all(m["context"]["library"]["name"] for m in messages)
    # anonymous-then-identified journeys: some users appear both without and with a userId
    anonymous_only = {m["anonymousId"] for m in messages if "userId" not in m}
    identified = {m["anonymousId"] for m in messages if m.get("userId") and m.get("anonymousId")}
    assert anonymous_only & identified
    assert 700 < report.bytes / report.lines < 3000  # about 1 KB per message


def test_trouble_is_mixed_in_and_accounted(tmp_path):
    report = generate(tmp_path, GenerateSpec(events=20_000, day=DAY, trouble_rate=0.05, gzip=True), workers=1)
    assert all(path.endswith(".jsonl.gz") for path in report.files)
    for kind in ("invalid_json", "truncated", "missing_type", "missing_ids", "missing_message_id", "oversized",
                 "duplicate", "clock_skew", "late", "wrong_types", "hostile_keys"):
        assert report.trouble[kind] > 0, kind
    invalid = 0
    for path in report.files:
        for line in read_lines(path):
            try:
                json.loads(line)
            except ValueError:
                invalid += 1
    assert invalid == report.trouble["invalid_json"] + report.trouble["truncated"]
    assert 0 < report.expected_quarantine < report.records


def test_event_schema_is_stable_and_grows_late():
    assert catalog.property_keys("Order Completed") == catalog.property_keys("Order Completed")
    key, start = catalog.late_property("Order Completed")
    assert key.startswith("experiment_") and 0 <= start < 1
    assert len(catalog.EVENT_NAMES) == 200


def test_rate_mode_writes_file_after_file(tmp_path):
    seen = []
    report = generate(tmp_path, GenerateSpec(events=300, events_per_file=100, day=DAY, rate=100_000),
                      progress=lambda r: seen.append(len(r.files)))
    assert seen == [1, 2, 3]
    assert report.messages == 300
