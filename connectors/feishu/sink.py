"""Feishu approval writes: create instances idempotently with ``uuid`` (approval v4).

``SinkCommand(entity="approval_instance", external_key=<uuid>, payload={"approval_code",
"user_id" | "open_id", "form"})``. Feishu answers the same ``instance_code`` for a ``uuid`` it
has seen with the same content (60012 for other content), so a replayed command has one effect.
Feishu does not say whether it created; this process remembers the uuids it created
(UNCHANGED on a repeat), so after a restart a repeat reports CREATED, still with one instance.
"""

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson

from bizbus.connectors.base import ApplyResult, Outcome, SinkCommand
from bizbus.connectors.errors import SchemaError
from bizbus.connectors.feishu.client import FeishuClient
from bizbus.connectors.feishu.receiver import INSTANCE_ENTITY

__all__ = ["InstanceCreator", "instance_body"]

_UUID_MAX = 64
# Fields of POST /instances a command may set besides approval_code/user/form/uuid.
_OPTIONAL = (
    "department_id",
    "node_approver_user_id_list",
    "node_approver_open_id_list",
    "node_cc_user_id_list",
    "node_cc_open_id_list",
    "title",
    "title_display_method",
    "locale",
)


def instance_body(command: SinkCommand) -> dict[str, Any]:
    """The ``POST /instances`` body of a command (the form list becomes its JSON string).

    Raises:
        SchemaError: Wrong entity, a uuid that is empty or over 64 characters, no
            approval_code, no user_id/open_id, or a form that is neither a list nor a string.
    """
    if command.entity != INSTANCE_ENTITY:
        raise SchemaError(f"feishu: cannot apply {command.entity!r}, only {INSTANCE_ENTITY!r}")
    key = command.external_key
    if not key or len(key) > _UUID_MAX:
        raise SchemaError("feishu: external_key must be a uuid of 1-64 characters")
    payload: Mapping[str, Any] = command.payload
    approval = payload.get("approval_code")
    if not isinstance(approval, str) or not approval:
        raise SchemaError("feishu: approval_instance command has no approval_code")
    form = payload.get("form")
    if isinstance(form, list | tuple):
        form = orjson.dumps(list(form)).decode()
    if not isinstance(form, str):
        raise SchemaError("feishu: approval_instance form must be a widget list or JSON string")
    body: dict[str, Any] = {"approval_code": approval, "form": form, "uuid": key}
    for who in ("user_id", "open_id"):
        if isinstance(payload.get(who), str) and payload[who]:
            body[who] = payload[who]
    if "user_id" not in body and "open_id" not in body:
        raise SchemaError("feishu: approval_instance command has no user_id or open_id")
    body.update({name: payload[name] for name in _OPTIONAL if name in payload})
    return body


class InstanceCreator:
    """Applies ``approval_instance`` commands and remembers which uuids it created.

    Args:
        client: The approval v4 client.
        remember: How many created uuids to remember (oldest forgotten first).
    """

    def __init__(self, client: FeishuClient, *, remember: int = 10_000) -> None:
        self.client = client
        self.remember = remember
        self._created: OrderedDict[str, str] = OrderedDict()

    async def apply(self, command: SinkCommand) -> ApplyResult:
        """Create the instance (or find the one made with this uuid).

        Raises:
            SchemaError: The command is malformed (see ``instance_body``).
            FeishuRejected: 60012 when the uuid was used with other content, 1390001/1390002
                when Feishu refuses the form, user or definition.
        """
        body = instance_body(command)
        key = body["uuid"].lower()  # Feishu matches uuids case-insensitively
        code = await self.client.create_instance(body)
        ids = {"instance_code": code}
        if self._created.get(key) == code:
            self._created.move_to_end(key)
            return ApplyResult(outcome=Outcome.UNCHANGED, external_ids=ids)
        self._created[key] = code
        while len(self._created) > self.remember:
            self._created.popitem(last=False)
        return ApplyResult(outcome=Outcome.CREATED, external_ids=ids)
