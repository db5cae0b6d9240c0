"""Bodies the sandbox OA pushes, shaped as Feishu sends them, and their encrypted envelope.

`url_verification` (challenge), `approval_instance` (schema 1.0: `uuid` = event id, `event.type`)
and `approval.instance.trip_group_update_v4` (schema 2.0: `header.event_id`), the latter only
when an instance whose form has a trip group is APPROVED.
"""

import secrets
import time
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

import orjson

from bizbus.deploy.sandbox.oa import crypto
from bizbus.deploy.sandbox.oa.approvals import StatusChange
from bizbus.deploy.sandbox.oa.forms import trip_schedules

__all__ = [
    "TRIP_EVENT_TYPE",
    "AppIdentity",
    "Envelope",
    "events_for",
    "seal",
    "url_verification",
]

TRIP_EVENT_TYPE = "approval.instance.trip_group_update_v4"


@dataclass(frozen=True)
class AppIdentity:
    """Who the events are for, and the secrets they are sealed with."""

    app_id: str
    tenant_key: str
    encrypt_key: str
    verification_token: str


@dataclass(frozen=True)
class Envelope:
    """One HTTP request body plus its Feishu signature headers."""

    body: bytes
    headers: dict[str, str]


def url_verification(app: AppIdentity, challenge: str) -> dict[str, Any]:
    """Return the plaintext of the request-URL check."""
    return {"challenge": challenge, "token": app.verification_token, "type": "url_verification"}


def _instance_event(app: AppIdentity, change: StatusChange) -> dict[str, Any]:
    at = str(change.operate_time_ms)
    return {
        "uuid": uuidlib.uuid4().hex, "token": app.verification_token,
        "ts": f"{change.operate_time_ms / 1000:.7f}", "type": "event_callback",
        "event": {
            "app_id": app.app_id, "tenant_key": app.tenant_key, "type": "approval_instance",
            "approval_code": change.approval_code, "instance_code": change.instance_code,
            "status": change.status, "operate_time": at, "instance_operate_time": at,
            "uuid": change.uuid,
        },
    }  # fmt: skip


def _trip_event(app: AppIdentity, change: StatusChange) -> dict[str, Any] | None:
    trip = trip_schedules(change.form)
    if trip is None:
        return None
    schedules, reason = trip
    user = change.user
    total = sum(int(item["trip_interval"]) for item in schedules)
    return {
        "schema": "2.0",
        "header": {
            "event_id": uuidlib.uuid4().hex, "event_type": TRIP_EVENT_TYPE,
            "create_time": str(change.operate_time_ms), "token": app.verification_token,
            "app_id": app.app_id, "tenant_key": app.tenant_key,
        },
        "event": {
            "approval_code": change.approval_code, "instance_code": change.instance_code,
            "start_user": {
                "id": {k: user[k] for k in ("user_id", "open_id", "union_id")},
                "name": user["name"],
            },
            "start_time": schedules[0]["trip_start_time"],
            "end_time": max(item["trip_end_time"] for item in schedules),
            "trip_interval": str(total), "trip_reason": reason, "schedules": schedules,
            "trip_peers": [],
        },
    }  # fmt: skip


def events_for(app: AppIdentity, change: StatusChange) -> list[dict[str, Any]]:
    """Return the plaintext events one status change produces, in push order."""
    events = [_instance_event(app, change)]
    if change.status == "APPROVED":
        trip = _trip_event(app, change)
        if trip is not None:
            events.append(trip)
    return events


def seal(app: AppIdentity, plaintext: dict[str, Any]) -> Envelope:
    """Encrypt (when an Encrypt Key is set) and sign one event, as Feishu does per attempt."""
    raw = orjson.dumps(plaintext)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if not app.encrypt_key:
        return Envelope(raw, headers)
    body = orjson.dumps({"encrypt": crypto.encrypt(app.encrypt_key, raw.decode())})
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    headers.update(
        {
            "X-Lark-Request-Timestamp": timestamp,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": crypto.sign(timestamp, nonce, app.encrypt_key, body),
        }
    )
    return Envelope(body, headers)
