"""Fetch Kafka and its runtime jars from Maven Central once, into a cache keyed by the POM.

A second start finds the cache complete and needs no network and no Maven.
"""

import hashlib
import shutil
import subprocess
from pathlib import Path

from bizbus.deploy.kafka.errors import KafkaRuntimeError
from bizbus.deploy.kafka.settings import KafkaRuntimeSettings

POM_PATH = Path(__file__).with_name("pom.xml")
_COMPLETE_MARKER = ".complete"


def jar_dir(settings: KafkaRuntimeSettings) -> Path:
    """Return the cache folder for the jars of the current POM (it may not exist yet)."""
    digest = hashlib.sha256(POM_PATH.read_bytes()).hexdigest()[:12]
    return settings.cache_dir / "kafka" / f"jars-{digest}"


def ensure_jars(settings: KafkaRuntimeSettings) -> Path:
    """Return a folder holding every jar the broker needs, fetching them if missing."""
    target = jar_dir(settings)
    if (target / _COMPLETE_MARKER).exists():
        return target
    mvn = shutil.which(settings.mvn)
    if mvn is None:
        raise KafkaRuntimeError(
            f"Maven ('{settings.mvn}') is not on PATH and the Kafka jars are not cached in "
            f"{target}. Install Maven (apt-get install maven) or set BIZBUS_KAFKA_MVN."
        )
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    command = [
        mvn, "-q", "-B", "-f", str(POM_PATH),
        "dependency:copy-dependencies", f"-DoutputDirectory={staging}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise KafkaRuntimeError(
            f"Maven could not fetch the Kafka jars (exit {result.returncode}):\n{tail}"
        )
    if not any(staging.glob("kafka_2.13-*.jar")):
        raise KafkaRuntimeError(f"Maven finished but no kafka_2.13 jar is in {staging}.")
    (staging / _COMPLETE_MARKER).touch()
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target
