"""Status-code → error table, ``Retry-After`` parsing and transport-error mapping for HTTP calls.

Pure functions shared by the HTTP base and the token providers; no I/O.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from bizbus.connectors.errors import (
    AuthError,
    ConnectorError,
    RateLimited,
    RejectedError,
    TransientError,
)

__all__ = ["error_for_response", "error_for_transport", "parse_retry_after"]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header given as delta-seconds or an HTTP-date.

    Args:
        value: The header value, or None when absent.
        now: The current time (for tests); defaults to the wall clock in UTC.

    Returns:
        Seconds to wait (never negative), or None when absent or unreadable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def _describe(system: str, request: httpx.Request, status: int, detail: str | None) -> str:
    # Method and status only: paths and bodies may carry personal data or external ids.
    reason = httpx.codes.get_reason_phrase(status) or "unknown status"
    text = f"{system}: {request.method} answered {status} {reason}"
    return f"{text} ({detail})" if detail else text


def error_for_response(
    response: httpx.Response,
    *,
    system: str,
    detail: Callable[[httpx.Response], str | None] | None = None,
) -> ConnectorError | None:
    """Classify an HTTP response: None for success, else the error to raise.

    | status          | error          |
    |-----------------|----------------|
    | 2xx, 3xx        | None           |
    | 408, 5xx        | TransientError |
    | 429             | RateLimited (with ``Retry-After``) |
    | 401, 403        | AuthError      |
    | other 4xx       | RejectedError  |

    Args:
        response: The response to classify.
        system: Short system name for the message.
        detail: Optional hook returning a safe vendor error code to append to the message.
    """
    status = response.status_code
    if status < 400:
        return None
    info = detail(response) if detail is not None else None
    message = _describe(system, response.request, status, info)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return RateLimited(message, retry_after=retry_after, system=system, status_code=status)
    if status == 408 or status >= 500:
        return TransientError(message, system=system, status_code=status)
    if status in (401, 403):
        return AuthError(message, system=system, status_code=status)
    return RejectedError(message, system=system, status_code=status)


def error_for_transport(exc: httpx.TransportError, *, system: str) -> TransientError:
    """Map a timeout, connect or protocol error to a TransientError (the cause is kept)."""
    error = TransientError(f"{system}: {type(exc).__name__} talking to the system", system=system)
    error.__cause__ = exc
    return error
