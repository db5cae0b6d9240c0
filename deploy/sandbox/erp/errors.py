"""Odoo's exception classes as the three transports report them.

```
OdooError                  (xmlrpc faultCode, JSON-2 HTTP status)
├── UserError              odoo.exceptions.UserError        2, 422
│   ├── ValidationError    odoo.exceptions.ValidationError  2, 422
│   └── MissingError       odoo.exceptions.MissingError     2, 404
├── AccessError            odoo.exceptions.AccessError      4, 403
├── AccessDenied           odoo.exceptions.AccessDenied     3, 401
└── InvalidCall            builtins.ValueError / TypeError  1, 422 (404 for unknown model/method)
```
"""

__all__ = [
    "AccessDenied",
    "AccessError",
    "InvalidCall",
    "MissingError",
    "OdooError",
    "UserError",
    "ValidationError",
]


class OdooError(Exception):
    """Base: `name` is the Python class Odoo would report, `message` what the user sees."""

    name = "odoo.exceptions.UserError"
    fault_code = 2
    http_status = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UserError(OdooError):
    """A business rule refused the call."""


class ValidationError(UserError):
    """A constraint on the data failed."""

    name = "odoo.exceptions.ValidationError"


class MissingError(UserError):
    """A record does not exist (or was deleted)."""

    name = "odoo.exceptions.MissingError"
    http_status = 404


class AccessError(OdooError):
    """The user may not do this (or the model/method is private)."""

    name = "odoo.exceptions.AccessError"
    fault_code = 4
    http_status = 403


class AccessDenied(OdooError):
    """Wrong login, password or API key."""

    name = "odoo.exceptions.AccessDenied"
    fault_code = 3
    http_status = 401

    def __init__(self, message: str = "Access Denied") -> None:
        super().__init__(message)


class InvalidCall(OdooError):
    """Bad arguments: unknown field, model or method, malformed domain (a Python error in Odoo)."""

    name = "builtins.ValueError"
    fault_code = 1

    def __init__(self, message: str, *, name: str = "builtins.ValueError", status: int = 422):
        super().__init__(message)
        self.name = name
        self.http_status = status
