"""The JVM jars a session needs (Delta Lake), fetched once from Maven Central and cached.

Production jobs must not download at run time: ``lakehouse jars fetch`` (run by the set-up
scripts) copies the pinned artifacts into ``spark.jars_dir``; the session then loads them from
there with no network. Maven does the download, so its local repository (~/.m2) is a second cache
and a settings.xml mirror works as it does for any Maven build.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterable

from lakehouse.errors import SetupError


def jar_file_name(coordinate: str) -> str:
    """``group:artifact:version`` -> ``artifact-version.jar`` (Maven's own file name)."""
    parts = coordinate.split(":")
    if len(parts) != 3 or not all(parts):
        raise SetupError(f"bad Maven coordinate {coordinate!r}; expected group:artifact:version")
    _, artifact, version = parts
    return f"{artifact}-{version}.jar"


def missing_jars(jars_dir: str | Path, coordinates: Iterable[str]) -> list[str]:
    """The coordinates whose jar is not yet in ``jars_dir``."""
    folder = Path(jars_dir).expanduser()
    return [c for c in coordinates if not (folder / jar_file_name(c)).is_file()]


def jar_paths(jars_dir: str | Path, coordinates: Iterable[str]) -> list[str]:
    """Absolute paths of the jars for ``coordinates``; raises if any is missing."""
    coordinates = list(coordinates)
    missing = missing_jars(jars_dir, coordinates)
    if missing:
        raise SetupError(
            f"jar(s) {', '.join(missing)} not found in {jars_dir}; run `lakehouse jars fetch` "
            "(needs Maven and Maven Central once), or set spark.jars_source = \"packages\" "
            "(LAKEHOUSE_SPARK_JARS_SOURCE) to let Spark resolve them, or \"provided\" under spark-submit"
        )
    folder = Path(jars_dir).expanduser().resolve()
    return [str(folder / jar_file_name(c)) for c in coordinates]


def fetch_jars(jars_dir: str | Path, coordinates: Iterable[str]) -> list[str]:
    """Copy the jars for ``coordinates`` into ``jars_dir`` with Maven; a no-op when all are there.

    Returns:
        The coordinates that were fetched (empty on a second run).

    Raises:
        SetupError: Maven is missing or an artifact cannot be resolved.
    """
    folder = Path(jars_dir).expanduser()
    missing = missing_jars(folder, coordinates)
    if not missing:
        return []
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SetupError("Maven (mvn) is not installed; install it or copy the jars into " f"{folder} by hand")
    folder.mkdir(parents=True, exist_ok=True)
    for coordinate in missing:
        command = [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={coordinate}",
                   f"-DoutputDirectory={folder}"]
        result = subprocess.run(command, capture_output=True, text=True, cwd=folder)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
            raise SetupError(f"Maven could not fetch {coordinate}:\n{tail}")
    return missing
