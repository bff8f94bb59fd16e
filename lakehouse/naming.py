"""Naming rules for columns and tables made from event keys (see DESIGN.md, "Naming").

snake_case and lowercase; characters other than letters, digits and ``_`` become ``_``; a leading
digit or a warehouse reserved word gets a ``_`` prefix; names longer than Redshift's 127 bytes are
cut and get a short hash of the full source path, so two long keys never share a name.

Names are only ever used quoted (Spark, Delta and SQL builders quote them); the rules exist so
that analysts can type them and every warehouse accepts them, not for safety.
"""

from __future__ import annotations

import hashlib
import re
from typing import Hashable, Iterable, Sequence

MAX_NAME_BYTES = 127  # Redshift's identifier limit, the strictest of the targets
_HASH_CHARS = 8

# Amazon Redshift's reserved words (docs: r_pg_keywords), lowercase.
RESERVED_WORDS = frozenset("""
aes128 aes256 all allowoverwrite analyse analyze and any array as asc authorization az64 backup
between binary blanksasnull both bytedict bzip2 case cast check collate column constraint create
credentials cross current_date current_time current_timestamp current_user current_user_id default
deferrable deflate defrag delta delta32k desc disable distinct do else emptyasnull enable encode
encrypt encryption end except explicit false for foreign freeze from full globaldict256
globaldict64k grant group gzip having identity ignore ilike in initially inner intersect interval
into is isnull join leading left like limit localtime localtimestamp lun luns lzo lzop minus
mostly16 mostly32 mostly8 natural new not notnull null nulls off offline offset oid old on only
open or order outer overlaps parallel partition percent permissions pivot placing primary raw
readratio recover references rejectlog resort respect restore right select session_user similar
snapshot some sysdate system table tag tdes text255 text32k then timestamp to top trailing true
truncatecolumns union unique unnest unpivot user using verbose wallet when where with without
""".split())

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def short_hash(text: str) -> str:
    """A stable 8-hex-digit hash of ``text`` (names only; not a security boundary)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH_CHARS]


def snake(key: str) -> str:
    """One key in snake_case: ``userId`` -> ``user_id``, ``Page URL`` -> ``page_url``.

    Unicode letters and digits are kept (every target accepts quoted UTF-8 names); any other
    character becomes ``_``. Empty keys become ``_``.
    """
    text = _CAMEL.sub("_", key)
    text = "".join(c if c.isalnum() or c == "_" else "_" for c in text).lower()
    return text or "_"


def fit(name: str, source: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """Apply the prefix and length rules to a snake_case ``name`` derived from ``source``.

    A leading digit or a reserved word gets a ``_`` prefix; a name over ``max_bytes`` UTF-8
    bytes is cut (on a character boundary) and suffixed with ``_`` + a hash of ``source``.
    """
    if name[0].isdigit() or name in RESERVED_WORDS:
        name = "_" + name
    if len(name.encode("utf-8")) <= max_bytes:
        return name
    suffix = "_" + short_hash(source)
    head = name.encode("utf-8")[: max_bytes - len(suffix)].decode("utf-8", errors="ignore")
    return head + suffix


def column_name(path: Sequence[str], prefix: str = "") -> str:
    """The column for a JSON path: keys in snake_case joined with ``_``, after ``prefix``.

    >>> column_name(("page", "URL"), prefix="context_")
    'context_page_url'
    """
    return fit(prefix + "_".join(snake(k) for k in path), source=prefix + "\x1f".join(path))


def table_name(event: str, taken: Iterable[str] = ()) -> str:
    """The per-event table for a track event name; names in ``taken`` (built-in tables) get ``_``."""
    name = fit(snake(event), source=event)
    return "_" + name if name in set(taken) else name


def allocate(candidates: Sequence[tuple[Hashable, str, str]], taken: set[str]) -> dict[Hashable, str]:
    """Give each source a unique column name, never reusing one in ``taken``.

    Args:
        candidates: ``(source, wanted name, spelling)`` triples: ``source`` identifies the JSON
            path, ``spelling`` is its keys joined with ``_`` as sent. Per wanted name, the source
            spelled exactly like the name wins, then the smallest spelling, so the result never
            depends on arrival order.
        taken: Names already in use in the table; updated in place with the new names.

    Returns:
        ``{source: name}``. A source whose wanted name is taken gets ``<name>_<hash>``:
        ``userId`` and ``user_id`` both want ``user_id``; ``user_id`` keeps it, ``userId``
        becomes ``user_id_<hash>``, and neither overwrites the other.
    """
    result = {}
    for source, wanted, spelling in sorted(candidates, key=lambda c: (c[1], c[2] != c[1], c[2], repr(c[0]))):
        name = wanted
        if name in taken:
            name = fit(f"{wanted}_{short_hash(spelling)}", spelling)
        while name in taken:  # a hash clash with an existing name: extremely unlikely, still safe
            name = fit(f"{name}_{short_hash(name)}", spelling)
        taken.add(name)
        result[source] = name
    return result
