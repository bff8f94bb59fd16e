"""Column types from observed JSON values (see DESIGN.md, "Types").

Discovery runs Spark's ``schema_of_variant_agg`` over a batch; its result is a type string such
as ``OBJECT<a: BIGINT, `b c`: OBJECT<d: DECIMAL(4,2)>, e: ARRAY<STRING>>``. This module turns
that into JSON leaf paths with a silver type, and widens types along
boolean < bigint < double < string (timestamp joins only with itself; anything else with it is
string).
"""

from __future__ import annotations

import re
from typing import Iterable

BOOLEAN, BIGINT, DOUBLE, TIMESTAMP, STRING = "boolean", "bigint", "double", "timestamp", "string"
SILVER_TYPES = (BOOLEAN, BIGINT, DOUBLE, TIMESTAMP, STRING)
_ORDER = {BOOLEAN: 0, BIGINT: 1, DOUBLE: 2, STRING: 3}

# Kinds that say "look at the values": a STRING may be all ISO-8601 timestamps, and a VARIANT
# (mixed kinds in one batch) needs the kinds listed to be widened exactly.
NEEDS_VALUES = ("STRING", "VARIANT")

_DECIMAL = re.compile(r"DECIMAL\((\d+),(\d+)\)")


def parse_type(text: str):
    """Parse a ``schema_of_variant`` type string.

    Returns:
        A dict ``{key: type}`` for ``OBJECT<...>``, else the type's text (``"BIGINT"``,
        ``"ARRAY<STRING>"``, ``"DECIMAL(4,2)"``, ``"VARIANT"``, ``"VOID"``).
    """
    value, end = _parse(text, 0)
    if end != len(text):
        raise ValueError(f"unexpected text at {end} in variant schema {text[:200]!r}")
    return value


def _parse(text: str, pos: int):
    if text.startswith("OBJECT<", pos):
        pos += len("OBJECT<")
        fields = {}
        while text[pos] != ">":
            key, pos = _parse_key(text, pos)
            if not text.startswith(": ", pos):
                raise ValueError(f"expected ': ' at {pos} in variant schema {text[:200]!r}")
            fields[key], pos = _parse(text, pos + 2)
            if text.startswith(", ", pos):
                pos += 2
        return fields, pos + 1
    start, depth = pos, 0
    while pos < len(text):  # a scalar or an ARRAY<...> (kept as text: arrays become JSON text)
        ch = text[pos]
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            if depth == 0:
                break
            depth -= 1
        elif ch == "," and depth == 0:
            break
        elif ch == "`":  # keys inside ARRAY<OBJECT<...>>
            pos = _parse_key(text, pos)[1] - 1
        pos += 1
    return text[start:pos], pos


def _parse_key(text: str, pos: int) -> tuple[str, int]:
    if text[pos] != "`":
        end = text.index(":", pos)
        return text[pos:end], end
    out, pos = [], pos + 1
    while True:
        ch = text[pos]
        if ch == "`":
            if text.startswith("``", pos):
                out.append("`")
                pos += 2
                continue
            return "".join(out), pos + 1
        out.append(ch)
        pos += 1


def leaves(schema, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], str]:
    """``{path: kind}`` for every non-object value of a parsed schema (an empty object has none)."""
    if not isinstance(schema, dict):
        return {prefix: schema}
    out = {}
    for key, sub in schema.items():
        out.update(leaves(sub, prefix + (key,)))
    return out


def silver_type(kind: str, all_iso: bool = False) -> str | None:
    """The column type for one observed kind; None for ``VOID`` (only nulls: no column yet)."""
    if kind == "VOID":
        return None
    if kind == "BOOLEAN":
        return BOOLEAN
    if kind in ("BIGINT", "INT", "SMALLINT", "TINYINT"):
        return BIGINT
    if kind in ("DOUBLE", "FLOAT"):
        return DOUBLE
    match = _DECIMAL.fullmatch(kind)
    if match:
        precision, scale = int(match[1]), int(match[2])
        if scale > 0:
            return DOUBLE
        return BIGINT if precision <= 18 else STRING  # a bigger integer keeps all its digits as text
    if kind == "STRING":
        return TIMESTAMP if all_iso else STRING
    return STRING  # ARRAY (JSON text), OBJECT met as a leaf, DATE, anything new


def widen(types: Iterable[str | None]) -> str | None:
    """The narrowest type that holds every one of ``types`` (None entries are ignored)."""
    present = {t for t in types if t is not None}
    if not present:
        return None
    if present == {TIMESTAMP}:
        return TIMESTAMP
    if TIMESTAMP in present:
        return STRING
    return max(present, key=_ORDER.__getitem__)
