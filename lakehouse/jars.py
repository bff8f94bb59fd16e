"""The JVM jars a session needs, fetched or built once and cached in ``spark.jars_dir``.

Production jobs must not download at run time: ``lakehouse jars fetch`` (run by the set-up
scripts) copies the pinned artifacts (Delta Lake) into ``spark.jars_dir`` and builds the project's
own small jar there (``lakehouse/jvm``: bronze's line parser); the session then loads them from
there with no network. Maven does the download, so its local repository (~/.m2) is a second cache
and a settings.xml mirror works as it does for any Maven build. The project's jar is compiled with
the JDK's ``javac`` against the jars PySpark ships; its file name carries a hash of its sources,
so a changed source makes a new jar and a stale one is never loaded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import zipfile
from importlib import resources
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


def _jvm_sources() -> list[Path]:
    return sorted(Path(str(resources.files("lakehouse").joinpath("jvm"))).glob("*.java"))


def jvm_jar_name() -> str:
    """``lakehouse-jvm-<hash of the sources>.jar``."""
    digest = hashlib.sha256()
    for source in _jvm_sources():
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return f"lakehouse-jvm-{digest.hexdigest()[:12]}.jar"


def jvm_jar_file(jars_dir: str | Path) -> Path:
    """Where the project's jar of these sources is, or goes, in ``jars_dir``."""
    return Path(jars_dir).expanduser() / jvm_jar_name()


def jvm_jar_path(jars_dir: str | Path) -> str:
    """The absolute path of the project's jar; raises if it was not built."""
    path = jvm_jar_file(jars_dir).resolve()
    if not path.is_file():
        raise SetupError(f"the project's jar {path.name} is not in {jars_dir}; run `lakehouse jars fetch` "
                         "(builds it with the JDK's javac), or give it to spark-submit with --jars")
    return str(path)


def build_jvm_jar(jars_dir: str | Path) -> bool:
    """Compile ``lakehouse/jvm/*.java`` into a jar in ``jars_dir``; a no-op when it is there.

    Returns:
        Whether a jar was built.

    Raises:
        SetupError: no ``javac``, or the sources do not compile.
    """
    target = jvm_jar_file(jars_dir)
    folder = target.parent
    if target.is_file():
        return False
    java_home = os.environ.get("JAVA_HOME")
    javac = shutil.which("javac") or (java_home and shutil.which("javac", path=str(Path(java_home) / "bin")))
    if not javac:
        raise SetupError("javac is not installed; install a JDK 17 (Debian: openjdk-17-jdk-headless)")
    import pyspark

    classpath = str(Path(pyspark.__file__).parent / "jars" / "*")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lakehouse-jvm-") as work:
        classes = Path(work) / "classes"
        command = [javac, "--release", "17", "-nowarn", "-cp", classpath, "-d", str(classes),
                   *map(str, _jvm_sources())]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise SetupError(f"javac could not build {target.name}:\n{result.stderr.strip()[-2000:]}")
        built = folder / f".{target.name}.{os.getpid()}"
        with zipfile.ZipFile(built, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: lakehouse\n")
            for path in sorted(classes.rglob("*.class")):
                jar.write(path, path.relative_to(classes).as_posix())
        os.replace(built, target)  # whole or not at all: a reader never sees part of a jar
    return True
