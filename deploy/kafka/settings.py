"""Settings of the local Kafka runtime (`BIZBUS_KAFKA_*`), validated when read."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "bizbus"


class KafkaRuntimeSettings(BaseSettings):
    """Where the jars and broker data live and how big the JVM may grow."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_KAFKA_", extra="ignore")

    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Cache for Kafka jars; filled once from Maven Central, reused offline.",
    )
    run_dir: Path | None = Field(
        default=None,
        description="Data, logs and state of `bizbus kafka up`; default <cache_dir>/run.",
    )
    heap: str = Field(
        default="512m", pattern=r"^\d+[mMgG]$", description="JVM -Xmx per broker node."
    )
    java: str = Field(default="java", description="Java 17+ executable (name or path).")
    mvn: str = Field(default="mvn", description="Maven executable, used only to fetch jars.")
    start_timeout_s: float = Field(
        default=60.0, gt=0, description="How long a node may take to answer an admin client."
    )

    def resolved_run_dir(self) -> Path:
        """Return the run directory, defaulting to a folder in the cache."""
        return self.run_dir or self.cache_dir / "run"
