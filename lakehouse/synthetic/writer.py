"""Write synthetic clickstream into the landing folder as JSON-lines files.

Files appear atomically (written under a dot-name, then renamed), so a stream reading the folder
never sees half a file. Parts are generated in parallel processes; each part has its own seed,
so the output is the same whatever the number of processes.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import orjson

from lakehouse.synthetic.events import QUARANTINE_TROUBLE, PartGenerator, PartSpec, default_day_start


@dataclass(frozen=True)
class GenerateSpec:
    """What to generate.

    Attributes:
        events: Number of messages (duplicates included).
        seed: The same seed and day give the same files, byte for byte.
        users: Size of the user pool (default: one user per 40 events, at least 10).
        events_per_file: Messages per landing file.
        trouble_rate: Share of messages or lines with trouble (bad JSON, missing ids, skew...).
        batch_share: Roughly the share of mobile sessions sent as ``{"batch": [...]}`` envelopes.
        gzip: Write ``.jsonl.gz`` instead of ``.jsonl``.
        day: Midnight (UTC) of the day the traffic covers; default yesterday.
        rate: Events per second to write at; None writes everything at once.
    """

    events: int = 10_000
    seed: int = 42
    users: int | None = None
    events_per_file: int = 10_000
    trouble_rate: float = 0.02
    batch_share: float = 0.5
    gzip: bool = False
    day: datetime | None = None
    rate: float | None = None


@dataclass
class GenerateReport:
    """What was written. ``records`` counts what bronze must account for: one per invalid line,
    one per message of a valid line; ``expected_quarantine`` is how many of those must be
    quarantined."""

    files: list[str] = field(default_factory=list)
    lines: int = 0
    messages: int = 0
    records: int = 0
    expected_quarantine: int = 0
    bytes: int = 0
    trouble: Counter = field(default_factory=Counter)

    def add(self, other: "GenerateReport") -> None:
        self.files += other.files
        self.lines += other.lines
        self.messages += other.messages
        self.records += other.records
        self.expected_quarantine += other.expected_quarantine
        self.bytes += other.bytes
        self.trouble.update(other.trouble)

    def as_dict(self) -> dict:
        return {"files": len(self.files), "lines": self.lines, "messages": self.messages,
                "records": self.records, "expected_quarantine": self.expected_quarantine,
                "bytes": self.bytes, "trouble": dict(sorted(self.trouble.items()))}


def _write_keys(seed: int) -> dict[str, str]:
    r = random.Random(f"{seed}:write-keys")
    return {platform: "".join(r.choices("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", k=32))
            for platform in ("web", "ios", "android")}


def _part_specs(spec: GenerateSpec) -> list[PartSpec]:
    day = spec.day or default_day_start()
    parts = max(1, -(-spec.events // spec.events_per_file))
    users = spec.users or max(10, spec.events // 40)
    keys = _write_keys(spec.seed)
    specs = []
    for part in range(parts):
        count = min(spec.events_per_file, spec.events - part * spec.events_per_file)
        specs.append(PartSpec(seed=spec.seed, part=part, events=count, users=users, day_start=day,
                              part_start=part / parts, part_end=(part + 1) / parts,
                              trouble_rate=spec.trouble_rate, batch_share=spec.batch_share, write_keys=keys))
    return specs


def _file_name(spec: GenerateSpec, part: PartSpec) -> str:
    suffix = ".jsonl.gz" if spec.gzip else ".jsonl"
    return f"clickstream-{part.day_start:%Y%m%d}-s{spec.seed}-{part.part:05d}{suffix}"


def write_part(folder: str, spec: GenerateSpec, part: PartSpec) -> GenerateReport:
    """Generate one part and write it as one file; returns what it wrote."""
    report = GenerateReport()
    chunks = []
    for line in PartGenerator(part).lines():
        text = line.text if line.text is not None else orjson.dumps(line.payload).decode()
        chunks.append(text)
        report.lines += 1
        report.messages += len(line.messages)
        report.trouble.update(line.trouble)
        if line.text is not None or not line.messages:
            report.records += 1
            report.expected_quarantine += 1
        else:
            report.records += len(line.messages)
            report.expected_quarantine += sum(t in QUARANTINE_TROUBLE for t in line.trouble)
    data = ("\n".join(chunks) + "\n").encode("utf-8")
    report.bytes = len(data)
    target = Path(folder) / _file_name(spec, part)
    temporary = target.with_name("." + target.name + ".tmp")
    if spec.gzip:
        data = gzip.compress(data, compresslevel=5, mtime=0)
    temporary.write_bytes(data)
    os.replace(temporary, target)
    report.files.append(str(target))
    return report


def generate(folder: str | os.PathLike, spec: GenerateSpec, *, workers: int | None = None,
             progress: Callable[[GenerateReport], None] | None = None) -> GenerateReport:
    """Write ``spec.events`` messages into ``folder`` (created if missing).

    With ``spec.rate`` set, files are written one after another so that events arrive at about
    that rate; otherwise parts are generated in parallel and written as fast as possible.
    A summary is also saved as ``_generator/<first file>.json`` (ignored by Spark: leading ``_``).
    """
    folder = str(folder)
    Path(folder).mkdir(parents=True, exist_ok=True)
    parts = _part_specs(spec)
    report = GenerateReport()
    if spec.rate:
        for part in parts:
            started = time.monotonic()
            report.add(write_part(folder, spec, part))
            if progress:
                progress(report)
            time.sleep(max(0.0, part.events / spec.rate - (time.monotonic() - started)))
    else:
        workers = workers or min(len(parts), os.cpu_count() or 1)
        if workers <= 1:
            results = (write_part(folder, spec, part) for part in parts)
        else:
            pool = ProcessPoolExecutor(max_workers=workers)
            results = pool.map(write_part, [folder] * len(parts), [spec] * len(parts), parts)
        for result in results:
            report.add(result)
            if progress:
                progress(report)
        if workers > 1:
            pool.shutdown()
    summary_dir = Path(folder) / "_generator"
    summary_dir.mkdir(exist_ok=True)
    (summary_dir / (Path(report.files[0]).name.split(".")[0] + ".json")).write_text(
        json.dumps(report.as_dict(), indent=2))
    return report
