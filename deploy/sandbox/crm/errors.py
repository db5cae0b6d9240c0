"""Salesforce-shaped errors for the sandbox CRM: `[{"message", "errorCode", "fields"}]` bodies.

SalesforceError(status, error_code, message, fields) is raised anywhere in a request and turned
into the JSON array body Salesforce REST API v60.0 sends; `fault_body` shapes injected faults.
"""

from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["SalesforceError", "error_response", "fault_body", "json_response"]

_FAULTS = {
    429: ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    500: ("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId."),
    502: ("SERVER_UNAVAILABLE", "Bad gateway: the server is temporarily unavailable."),
    503: ("SERVER_UNAVAILABLE", "Server temporarily unavailable; please try again later."),
    504: (
        "REQUEST_RUNNING_TOO_LONG",
        "Your request was running for too long, and has been stopped.",
    ),
}


class SalesforceError(Exception):
    """An API error answered as Salesforce does: an HTTP status and a JSON array of errors."""

    def __init__(
        self, status: int, error_code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields or []

    def body(self) -> list[dict[str, Any]]:
        """Return the Salesforce error array."""
        return [{"message": self.message, "errorCode": self.error_code, "fields": self.fields}]


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Return a JSON response encoded with orjson (non-ASCII kept as UTF-8)."""
    return Response(
        orjson.dumps(content),
        status_code=status,
        media_type="application/json;charset=UTF-8",
        headers=headers,
    )


def error_response(error: SalesforceError) -> Response:
    """Return the HTTP response for an error."""
    return json_response(error.body(), error.status)


def fault_body(status: int) -> tuple[bytes, str]:
    """Return the body of an injected fault, shaped like Salesforce's own errors."""
    code, message = _FAULTS.get(status, ("UNKNOWN_EXCEPTION", f"HTTP {status}"))
    return orjson.dumps([{"message": message, "errorCode": code}]), "application/json;charset=UTF-8"
