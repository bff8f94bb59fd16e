"""Per-batch ingest metrics: one row per committed micro-batch in ``<lake>/metrics/bronze_ingest``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pyspark.sql.types import DoubleType, LongType, StructField, StructType, TimestampType

METRICS_SCHEMA = StructType([
    StructField("batch_id", LongType()),
    StructField("started_at", TimestampType()),
    StructField("committed_at", TimestampType()),
    StructField("duration_s", DoubleType()),
    StructField("files", LongType()),
    StructField("lines_in", LongType()),
    StructField("records_in", LongType()),
    StructField("events_written", LongType()),
    StructField("quarantined", LongType()),
    StructField("newest_event_age_s", DoubleType()),
    StructField("oldest_event_age_s", DoubleType()),
])


def batch_metrics(batch_id: int, started: datetime, committed: datetime, counts: dict[str, Any]) -> dict[str, Any]:
    """The metrics row of one batch.

    Args:
        batch_id: The micro-batch id.
        started, committed: Wall-clock start of the batch and end of its ``bronze.events`` commit
            (timezone-aware); the quarantine and this row are written after, side by side.
        counts: ``records``, ``lines``, ``quarantined``, ``files``, and ``newest``/``oldest``
            ``received_at`` of the batch's events as epoch seconds (None when it had none).
            Ages use the collector's receive time, not the client's event time, which clock
            skew can put in the future.
    """

    def age(epoch: float | None) -> float | None:
        return None if epoch is None else round(committed.timestamp() - epoch, 3)

    return {
        "batch_id": batch_id,
        "started_at": started,
        "committed_at": committed,
        "duration_s": round((committed - started).total_seconds(), 3),
        "files": counts["files"],
        "lines_in": counts["lines"],
        "records_in": counts["records"],
        "events_written": counts["records"] - counts["quarantined"],
        "quarantined": counts["quarantined"],
        "newest_event_age_s": age(counts["newest"]),
        "oldest_event_age_s": age(counts["oldest"]),
    }
