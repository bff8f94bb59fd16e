"""Spark SQL text pieces: identifiers and string literals, quoted so that no name is pasted as code."""

from __future__ import annotations


def quote(name: str) -> str:
    """A Spark SQL identifier, quoted: any name is safe."""
    return "`" + name.replace("`", "``") + "`"


def literal(text: str) -> str:
    """A Spark SQL string literal for any text (backslash escapes are on by default)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
