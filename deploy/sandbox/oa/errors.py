"""Feishu open-platform errors as the sandbox OA answers them: `{"code", "msg", "error"}`.

FeishuError(code, msg, http_status)   raised by the approval book, the contact lookup and the
auth check; the route layer turns it into Feishu's JSON body with the same HTTP status Feishu
uses (400 for these).
"""

import secrets

from starlette.responses import JSONResponse

__all__ = [
    "APPROVAL_NOT_FOUND",
    "APP_NOT_FOUND",
    "APP_SECRET_INVALID",
    "INSTANCE_NOT_FOUND",
    "INVALID_TOKEN",
    "MISSING_TOKEN",
    "NO_USER_AUTHORITY",
    "PARAM_INVALID",
    "SUBSCRIPTION_EXISTS",
    "UUID_CONFLICT",
    "VALIDATION_FAILED",
    "FeishuError",
    "fault_body",
    "log_id",
]

MISSING_TOKEN = 99991661
INVALID_TOKEN = 99991663
APP_NOT_FOUND = 10003
APP_SECRET_INVALID = 10014
PARAM_INVALID = 1390001
APPROVAL_NOT_FOUND = 1390002
INSTANCE_NOT_FOUND = 1390003
SUBSCRIPTION_EXISTS = 1390007
UUID_CONFLICT = 60012
NO_USER_AUTHORITY = 41050  # contact v3: a user outside the app's contact scope (or none at all)
VALIDATION_FAILED = 99992402  # open platform: a query parameter failed validation
_RATE_LIMITED = 99991400
_SERVER_ERROR = 1395001


def log_id() -> str:
    """Return a request log id shaped like Feishu's `X-Tt-Logid`."""
    return "2024" + secrets.token_hex(13).upper()


class FeishuError(Exception):
    """An API call Feishu would refuse, with its error code and HTTP status."""

    def __init__(self, code: int, msg: str, *, http_status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.http_status = http_status

    def response(self) -> JSONResponse:
        """Return Feishu's error body for this error."""
        lid = log_id()
        body = {"code": self.code, "msg": self.msg, "error": {"log_id": lid}}
        return JSONResponse(body, status_code=self.http_status, headers={"X-Tt-Logid": lid})


def fault_body(status: int) -> tuple[bytes, str]:
    """Return the Feishu-shaped body of an injected fault (429 or 5xx)."""
    if status == 429:
        code, msg = _RATE_LIMITED, "request trigger frequency limit"
    else:
        code, msg = _SERVER_ERROR, "There have been some errors. Please try again later"
    return b'{"code":%d,"msg":"%s"}' % (code, msg.encode()), "application/json; charset=utf-8"
