"""Column functions shared by the layers (``Column -> Column``, no I/O)."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampType


def parse_iso_timestamp(text: Column) -> Column:
    """ISO-8601 text -> timestamp, NULL when it is not one.

    ``try_cast`` alone accepts ``"17000"`` as the year 17000, so the date part is checked first.
    """
    looks_iso = (F.length(text) >= 10) & (F.substring(text, 5, 1) == "-") & (F.substring(text, 8, 1) == "-")
    return F.when(looks_iso, text.try_cast(TimestampType()))


def parse_iso_timestamp_sql(text: str) -> str:
    """:func:`parse_iso_timestamp` as Spark SQL text, for an SQL expression ``text``."""
    return (f"CASE WHEN length({text}) >= 10 AND substring({text}, 5, 1) = '-' AND substring({text}, 8, 1) = '-' "
            f"THEN try_cast({text} AS TIMESTAMP) END")
