"""The one error tree of bizbus; `retriable` is a class attribute, messages carry no secrets.

```
IntegrationError            retriable=False
├── ConfigError             bad settings: exit at startup, never a dead letter
├── ConnectorError
│   ├── TransientError      retriable: timeouts, connect errors, 408, 5xx
│   │   └── RateLimited     429, carries retry_after
│   ├── AuthError           401/403: stop the flow loudly
│   ├── RejectedError       other 4xx: dead letter
│   └── CursorExpired       a stored stream position the system no longer keeps: catch up
├── SchemaError             undecodable or invalid event: dead letter
└── MappingError            missing reference data: dead letter (or park and retry later)
```
``SchemaError`` is also a ``schemas.errors.SchemaError``: catch that one to get both.
"""

from typing import ClassVar

from bizbus.schemas.errors import SchemaError as _ContractError

__all__ = [
    "AuthError",
    "ConfigError",
    "ConnectorError",
    "CursorExpired",
    "IntegrationError",
    "MappingError",
    "RateLimited",
    "RejectedError",
    "SchemaError",
    "TransientError",
]


class IntegrationError(Exception):
    """Root of every error bizbus raises on purpose; not retriable unless a subclass says so."""

    retriable: ClassVar[bool] = False


class ConfigError(IntegrationError):
    """A setting is missing or wrong; the message names it and says how to fix it."""


class ConnectorError(IntegrationError):
    """A call to an external system failed.

    Attributes:
        system: Short name of the system (``crm``, ``erp``, ``oa``, ...), if known.
        status_code: The HTTP status that caused the error, if any.
    """

    def __init__(
        self, message: str, *, system: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.system = system
        self.status_code = status_code


class TransientError(ConnectorError):
    """The call may succeed if repeated: timeouts, connect errors, 408 and 5xx."""

    retriable: ClassVar[bool] = True


class RateLimited(TransientError):
    """The system said 429; ``retry_after`` is the wait it asked for, in seconds (or None)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        system: str | None = None,
        status_code: int | None = 429,
    ) -> None:
        super().__init__(message, system=system, status_code=status_code)
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """Credentials were refused (401/403) even after one token refresh: stop loudly."""


class RejectedError(ConnectorError):
    """The system refused this request (other 4xx, or a webhook that fails verification)."""


class CursorExpired(ConnectorError):
    """A push subscription's stored position is past the system's retention: poll to catch up."""


class SchemaError(IntegrationError, _ContractError):
    """An event or payload cannot be decoded or does not match its schema.

    Takes ``event_type=`` and ``field=`` like ``schemas.errors.SchemaError``.
    """


class MappingError(IntegrationError):
    """Reference data needed to map a record is missing (e.g. no ERP id for a CRM account)."""
