"""Control routes that play the change events Salesforce sends when it cannot send normal ones.

`POST /_sandbox/changes/gap` `{"object", "id", "fields"}` updates a record and logs a
`GAP_UPDATE` event instead of an `UPDATE` (header only: the subscriber must read the record);
`POST /_sandbox/changes/overflow` `{"object"}` logs a `GAP_OVERFLOW` event (no record ids: more
changes than one transaction's events could carry). Both answer `{"replay": n}`.
"""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bizbus.deploy.sandbox.clock import SandboxClock
from bizbus.deploy.sandbox.crm.changes import ChangeLog
from bizbus.deploy.sandbox.crm.objects import find_object
from bizbus.deploy.sandbox.crm.records import Actor, RecordStore
from bizbus.deploy.sandbox.crm.seed import INTEGRATION_USERNAME, user_id_for
from bizbus.deploy.sandbox.crm.values import format_datetime

__all__ = ["change_control_routes"]


def change_control_routes(
    records: RecordStore, changes: ChangeLog, clock: SandboxClock
) -> list[BaseRoute]:
    """Return the `/_sandbox/changes/*` routes."""

    def actor() -> Actor:
        return Actor(user_id_for(records, INTEGRATION_USERNAME) or "", "sandbox-gap")

    async def gap(request: Request) -> Response:
        body = await request.json()
        obj = find_object(str(body.get("object", "")))
        if obj is None:
            return JSONResponse({"error": "unknown object"}, status_code=400)
        values = records.convert(obj, dict(body.get("fields") or {}), creating=False)
        silent = RecordStore(records.store)  # writes without its normal change event
        now = format_datetime(clock.now())
        with records.store.transaction():
            silent.update(obj, str(body["id"]), values, actor(), now)
            changes.record(obj, [str(body["id"])], "GAP_UPDATE", {}, changed=[],
                           user_id=actor().user_id, client=None, now=now)  # fmt: skip
        return JSONResponse({"replay": changes.latest()})

    async def overflow(request: Request) -> Response:
        body = await request.json()
        obj = find_object(str(body.get("object", "")))
        if obj is None:
            return JSONResponse({"error": "unknown object"}, status_code=400)
        with records.store.transaction():
            changes.record(obj, [], "GAP_OVERFLOW", {}, changed=[], user_id=actor().user_id,
                           client=None, now=format_datetime(clock.now()))  # fmt: skip
        return JSONResponse({"replay": changes.latest()})

    return [
        Route("/_sandbox/changes/gap", gap, methods=["POST"]),
        Route("/_sandbox/changes/overflow", overflow, methods=["POST"]),
    ]
