"""Where every table lives: path-based Delta tables under the lake root.

``<lake>/bronze/events``, ``<lake>/bronze/quarantine``, ``<lake>/silver/<table>``,
``<lake>/gold/<table>``, ``<lake>/metrics/<name>`` and stream checkpoints under
``<lake>/_checkpoints/<job>``. Any Delta reader can open them by path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from lakehouse.errors import ConfigError


def join(root: str, *parts: str) -> str:
    """Join path parts under a local folder or a URI (``s3a://bucket/lake``) with ``/``."""
    if "://" not in root:
        root = os.path.abspath(os.path.expanduser(root))
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts)])


def local_path(path: str, key: str) -> str:
    """``path`` as a local file-system path (``file:`` dropped).

    Raises:
        ConfigError: ``path`` is a URI of another file system (``s3a://``); ``key`` names the
            setting to point at a local folder. Python reads these files itself.
    """
    if "://" in path and not path.startswith("file:"):
        raise ConfigError(f"{path} is not a local folder; set {key} to one (files there are read by Python, "
                          f"not Spark)")
    return path.removeprefix("file://").removeprefix("file:")


@dataclass(frozen=True)
class Lake:
    """Table locations under one lake root."""

    root: str

    @property
    def bronze_events(self) -> str:
        return join(self.root, "bronze", "events")

    @property
    def bronze_quarantine(self) -> str:
        return join(self.root, "bronze", "quarantine")

    def silver(self, table: str) -> str:
        return join(self.root, "silver", table)

    def gold(self, table: str) -> str:
        return join(self.root, "gold", table)

    def table(self, qualified: str) -> str:
        """``bronze.events`` -> ``<lake>/bronze/events`` (a table named as the quality gate names it)."""
        layer, name = qualified.split(".", 1)
        return join(self.root, layer, name)

    def quality(self, name: str) -> str:
        return join(self.root, "quality", name)

    def metrics(self, name: str) -> str:
        return join(self.root, "metrics", name)

    def checkpoint(self, job: str) -> str:
        return join(self.root, "_checkpoints", job)

    def reports(self, configured: str = "") -> str:
        """The quality reports folder: ``quality.reports_dir`` when set, else ``<lake>/reports``."""
        return configured or join(self.root, "reports")
