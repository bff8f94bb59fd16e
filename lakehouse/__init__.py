"""Clickstream lakehouse: the shared core (config, Spark session, tables, Delta I/O, command line)."""

__version__ = "0.1.0"
