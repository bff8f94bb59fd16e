"""Bronze rows for silver tests: Segment messages in, rows of ``bronze.events`` out."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from bronze.envelope import BRONZE_SCHEMA

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


def message(type_: str, message_id: str, *, event: str | None = None, user_id: str | None = "u1",
            anonymous_id: str | None = None, at: datetime = T0, **fields) -> dict:
    body = {"type": type_, "messageId": message_id, "timestamp": at.isoformat(), **fields}
    if event is not None:
        body["event"] = event
    if user_id is not None:
        body["userId"] = user_id
    if anonymous_id is not None:
        body["anonymousId"] = anonymous_id
    return body


def bronze_df(spark, messages: list[dict], *, received: datetime = T0, batch_id: int = 0, source_id: str = "src"):
    """``bronze.events`` rows for ``messages`` (the envelope parsed the way bronze does)."""
    rows = []
    for i, msg in enumerate(messages):
        at = msg.get("timestamp")
        rows.append({
            "message_id": msg.get("messageId"), "type": msg.get("type"), "event": msg.get("event"),
            "user_id": msg.get("userId"), "anonymous_id": msg.get("anonymousId"), "source_id": source_id,
            "timestamp": datetime.fromisoformat(at) if at else None,
            "sent_at": datetime.fromisoformat(msg["sentAt"]) if "sentAt" in msg else None,
            "original_timestamp": None,
            "received_at": received + timedelta(milliseconds=i), "raw": json.dumps(msg, ensure_ascii=False),
            "ingested_at": received, "batch_id": batch_id, "source_file": "test.jsonl", "batch_index": None,
            "received_date": received.date(),
        })
    return spark.createDataFrame(rows, BRONZE_SCHEMA)
