"""Which silver tables exist and which columns they have.

Every silver table has fixed *built-in* columns (per kind of call) and *flattened* columns, one per
JSON leaf path of ``context`` (named ``context_*``), ``properties`` or ``traits``. The flattened
columns are recorded in the column map (``silver/_column_map``): one row per (table, section,
path) with the column name and type, decided once, when the path is first seen, and never
changed afterwards. That record is the source of truth for names, so a restarted job, a replayed
batch or a full refresh names every path the same way.

Plain values and planning only; no Spark here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from lakehouse import naming
from silver.schema import BIGINT, STRING, TIMESTAMP

log = logging.getLogger("lakehouse.silver")

CONTEXT, PROPERTIES, TRAITS = "context", "properties", "traits"
OVERFLOW = "_overflow"  # JSON object of the paths past the column budget
RESCUED = "_rescued"  # JSON object {column: original value} of values that did not fit their column

COMMON = (
    ("id", STRING), ("source_id", STRING), ("anonymous_id", STRING), ("user_id", STRING),
    ("timestamp", TIMESTAMP), ("original_timestamp", TIMESTAMP), ("sent_at", TIMESTAMP),
    ("received_at", TIMESTAMP), ("loaded_at", TIMESTAMP), ("silver_batch_id", BIGINT),
)
TRAILER = ((RESCUED, STRING), (OVERFLOW, STRING), ("received_date", "date"))

# kind of table -> (extra built-in columns, flattened sections)
KINDS = {
    "tracks": ((("event", STRING), ("event_text", STRING)), (CONTEXT,)),
    "event": ((("event", STRING), ("event_text", STRING)), (CONTEXT, PROPERTIES)),
    "pages": ((("name", STRING), ("category", STRING)), (CONTEXT, PROPERTIES)),
    "screens": ((("name", STRING), ("category", STRING)), (CONTEXT, PROPERTIES)),
    "identifies": ((), (CONTEXT, TRAITS)),
    "groups": ((("group_id", STRING),), (CONTEXT, TRAITS)),
    "aliases": ((("previous_id", STRING),), (CONTEXT,)),
}
# Segment call type -> its table (track calls also go to their event's table).
TYPE_TABLES = {"track": "tracks", "page": "pages", "screen": "screens", "identify": "identifies",
               "group": "groups", "alias": "aliases"}
# Tables that are not one per event; an event named like one of them gets a ``_`` prefix.
FIXED_TABLES = frozenset(TYPE_TABLES.values()) | {"users", "identity_map", "discards", "_column_map",
                                                  "_message_ids", "_batches"}
_SECTION_PREFIX = {CONTEXT: "context_", PROPERTIES: "", TRAITS: ""}
# A property or trait named like a built-in column is kept under this prefix.
_BUILTIN_PREFIX = {PROPERTIES: "property_", TRAITS: "trait_", CONTEXT: "context_"}


def builtin_columns(kind: str) -> tuple[tuple[str, str], ...]:
    """``(name, type)`` of a table kind's built-in columns, in table order."""
    return COMMON + KINDS[kind][0] + TRAILER


@dataclass(frozen=True)
class Column:
    """One flattened column: where its values come from and what it is called."""

    table: str
    section: str
    path: tuple[str, ...]
    column: str  # OVERFLOW when the path is kept in the overflow JSON column
    type: str

    def as_row(self, kind: str, ordinal: int, batch_id: int) -> dict:
        return {"table": self.table, "kind": kind, "ordinal": ordinal, "section": self.section, "path": json.dumps(list(self.path), ensure_ascii=False),
                "column": self.column, "type": self.type, "first_batch_id": batch_id,
                "json_path": json_path_text(self.section, self.path)}

    @classmethod
    def from_row(cls, row: Mapping) -> "Column":
        return cls(row["table"], row["section"], tuple(json.loads(row["path"])), row["column"], row["type"])


def json_path_text(section: str, path: tuple[str, ...]) -> str:
    """A readable JSONPath for people (``$.properties['a.b'].c``)."""
    parts = []
    for key in (section, *path):
        parts.append(f".{key}" if key.isidentifier() else "[" + json.dumps(key, ensure_ascii=False) + "]")
    return "$" + "".join(parts)


@dataclass
class TableLayout:
    """A table's kind and its flattened columns in the order they were added."""

    name: str
    kind: str
    columns: list[Column] = field(default_factory=list)

    @property
    def sections(self) -> tuple[str, ...]:
        return KINDS[self.kind][1]

    def known(self) -> set[tuple[str, tuple[str, ...]]]:
        return {(c.section, c.path) for c in self.columns}

    def names(self) -> set[str]:
        return {name for name, _ in builtin_columns(self.kind)} | {c.column for c in self.columns}

    def width(self) -> int:
        return len(builtin_columns(self.kind)) + sum(1 for c in self.columns if c.column != OVERFLOW)


def plan_columns(layout: TableLayout, discovered: Mapping[tuple[str, tuple[str, ...]], str],
                 max_columns: int) -> list[Column]:
    """Name and place the paths a batch saw for the first time; existing columns never change.

    Args:
        layout: The table as it is.
        discovered: ``{(section, path): silver type}`` seen in this batch (known ones included).
        max_columns: The table's column budget; paths beyond it go to ``_overflow``.

    Returns:
        The new columns, in a deterministic order (also appended to ``layout.columns``; a
        column's ordinal in the column map is its index there).
    """
    known = layout.known()
    new = sorted(key for key in discovered if key not in known)
    if not new:
        return []
    builtins = {name for name, _ in builtin_columns(layout.kind)}
    candidates = []
    for section, path in new:
        wanted = naming.column_name(path, prefix=_SECTION_PREFIX[section])
        plain = _SECTION_PREFIX[section] + "_".join(naming.snake(k) for k in path)
        if wanted in builtins or plain in builtins:  # ("timestamp" is also a reserved word)
            wanted = naming.column_name(path, prefix=_BUILTIN_PREFIX[section])
        spelling = _SECTION_PREFIX[section] + "_".join(path)
        candidates.append(((section, path), wanted, spelling))
    names = naming.allocate(candidates, layout.names())
    room = max_columns - layout.width()
    added = []
    for section, path in sorted(new, key=lambda k: names[k]):
        column = names[(section, path)] if room > 0 else OVERFLOW
        room -= 1
        added.append(Column(layout.name, section, path, column, discovered[(section, path)]))
    overflowed = [c for c in added if c.column == OVERFLOW]
    if overflowed:
        log.warning("table %s reached its budget of %d columns: %d new paths kept in %s (first: %s)",
                    layout.name, max_columns, len(overflowed), OVERFLOW,
                    json_path_text(overflowed[0].section, overflowed[0].path))
    layout.columns.extend(added)
    return added


def layouts_from_rows(rows: Iterable[Mapping], kinds: Mapping[str, str]) -> dict[str, TableLayout]:
    """Rebuild layouts from column map rows (in their recorded order)."""
    layouts = {name: TableLayout(name, kind) for name, kind in kinds.items()}
    for row in sorted(rows, key=lambda r: (r["table"], r["ordinal"])):
        column = Column.from_row(row)
        layouts.setdefault(column.table, TableLayout(column.table, row["kind"])).columns.append(column)
    return layouts
