"""A clock the sandbox ERP's own work runs on: real time for the demo, stepped for tests."""

from datetime import UTC, datetime, timedelta


class SandboxClock:
    """UTC-aware time that can be frozen and advanced (`POST /_sandbox/clock`)."""

    def __init__(self, *, manual: bool = False) -> None:
        self.manual = manual
        self._offset = timedelta()
        self._frozen = datetime.now(UTC)

    def now(self) -> datetime:
        """Return the current sandbox time."""
        if self.manual:
            return self._frozen
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> datetime:
        """Move time forward by `seconds` and return the new time."""
        if self.manual:
            self._frozen += timedelta(seconds=seconds)
        else:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def set_manual(self, manual: bool) -> None:
        """Switch between stepped and real time, keeping the current reading."""
        current = self.now()
        self.manual = manual
        self._frozen = current
        self._offset = current - datetime.now(UTC)
