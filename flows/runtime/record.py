"""A consumed Kafka record as the runtime sees it, independent of faust or aiokafka types."""

from dataclasses import dataclass, field

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class RawRecord:
    """One record read from a topic: bytes in, with where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)
    timestamp_ms: int | None = None
    memo: dict[str, object] = field(default_factory=dict, compare=False, repr=False)
    """What the stages on this record's topic derived from it once (its decoded event)."""

    def header(self, name: str) -> bytes | None:
        """Return the last value of header `name`, or None."""
        for key, value in reversed(self.headers):
            if key == name:
                return value
        return None
