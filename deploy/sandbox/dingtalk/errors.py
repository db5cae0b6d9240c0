"""DingTalk's error shapes, new API and legacy.

New API: ``{"code", "message", "requestid"}`` with an HTTP status; legacy ``oapi``:
``{"errcode", "errmsg", "request_id"}`` with HTTP 200.
"""

import secrets

from starlette.responses import JSONResponse

__all__ = ["DingTalkError", "LegacyError", "fault_body", "request_id"]


def request_id() -> str:
    """A request id shaped like DingTalk's (upper-case hex)."""
    return secrets.token_hex(16).upper()


class DingTalkError(Exception):
    """A new-API call DingTalk would refuse (code, message, HTTP status)."""

    def __init__(self, code: str, message: str, *, http_status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status

    def response(self) -> JSONResponse:
        """DingTalk's error body for this error."""
        body = {"code": self.code, "message": self.message, "requestid": request_id()}
        return JSONResponse(body, status_code=self.http_status)


class LegacyError(Exception):
    """A legacy ``oapi`` refusal: HTTP 200 with a non-zero ``errcode``."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg

    def response(self) -> JSONResponse:
        """The legacy error body."""
        return JSONResponse(
            {"errcode": self.errcode, "errmsg": self.errmsg, "request_id": request_id()}
        )


def fault_body(status: int) -> tuple[bytes, str]:
    """The DingTalk-shaped body of an injected fault (429 or 5xx)."""
    if status == 429:
        code, message = "Throttling", "the QPS of this API exceeds the limit"
    else:
        code, message = "systemError", "system error, please try again later"
    body = b'{"code":"%s","message":"%s","requestid":"%s"}' % (
        code.encode(), message.encode(), request_id().encode(),
    )  # fmt: skip
    return body, "application/json;charset=utf-8"
