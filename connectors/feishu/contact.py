"""Feishu contact v3 users/get (``GET /open-apis/contact/v3/users/{user_id}``) as ``FeishuUser``.

Auth: the app's tenant_access_token; the app needs ``contact:user.base:readonly`` plus
``contact:user.employee_id:readonly`` (user_id, 工号) and ``contact:user.email:readonly``, else
Feishu leaves those fields out. Limit: 1000/min and 50/s per app. A user outside the app's
contact scope (or no user at all) answers code 41050.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bizbus.connectors.errors import SchemaError
from bizbus.connectors.fields import text

__all__ = ["CONTACT_V3", "USER_ID_TYPES", "USER_NOT_VISIBLE", "FeishuUser", "parse_user"]

CONTACT_V3 = "/open-apis/contact/v3"
USER_ID_TYPES = ("user_id", "open_id", "union_id")
USER_NOT_VISIBLE = 41050


@dataclass(frozen=True)
class FeishuUser:
    """A person in the Feishu directory, as integrations match them to other systems.

    ``email`` is the enterprise mailbox when there is one, else the contact e-mail;
    ``leader_user_id`` is in the id type the lookup asked for.
    """

    user_id: str | None
    open_id: str | None
    name: str
    email: str | None
    employee_no: str | None
    leader_user_id: str | None


def parse_user(data: Mapping[str, Any]) -> FeishuUser:
    """Read the ``data`` of a users/get answer.

    Raises:
        SchemaError: No ``user`` object, or a user without a name.
    """
    user = data.get("user")
    if not isinstance(user, Mapping):
        raise SchemaError("feishu: users/get answered no user object")
    name = text(user.get("name"))
    if name is None:
        raise SchemaError("feishu: users/get answered a user without a name")
    return FeishuUser(
        user_id=text(user.get("user_id")),
        open_id=text(user.get("open_id")),
        name=name,
        email=text(user.get("enterprise_email")) or text(user.get("email")),
        employee_no=text(user.get("employee_no")),
        leader_user_id=text(user.get("leader_user_id")),
    )
