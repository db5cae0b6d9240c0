"""Feishu/Lark (OA) connector: approval v4, contact v3 users, tenant_access_token, callbacks.

Sources: ``FeishuWebhookReceiver`` (callbacks, answered fast) and catch-up polling of instance
lists after outages. Writes: approval instances bizbus files for people to decide
(``FeishuConnector.create_instance``, idempotent by ``uuid``; ``decision`` reads the outcome).
Limits: instance detail 50/s and 1000/min, subscribe 100/min per app. See
``connector.FeishuConnector`` for the API flows use.
"""

from bizbus.connectors.feishu.client import FeishuClient, FeishuRejected
from bizbus.connectors.feishu.connector import FeishuConnector
from bizbus.connectors.feishu.contact import USER_NOT_VISIBLE, FeishuUser
from bizbus.connectors.feishu.forms import (
    InstanceDetail,
    TripLeg,
    TripRequest,
    parse_detail,
    parse_trip,
    parse_trip_event,
)
from bizbus.connectors.feishu.receiver import (
    INSTANCE_ENTITY,
    TRIP_ENTITY,
    TRIP_EVENT_TYPE,
    FeishuWebhookReceiver,
    WebhookReply,
)
from bizbus.connectors.feishu.settings import FeishuSettings

__all__ = [
    "INSTANCE_ENTITY",
    "TRIP_ENTITY",
    "TRIP_EVENT_TYPE",
    "USER_NOT_VISIBLE",
    "FeishuClient",
    "FeishuConnector",
    "FeishuRejected",
    "FeishuSettings",
    "FeishuUser",
    "FeishuWebhookReceiver",
    "InstanceDetail",
    "TripLeg",
    "TripRequest",
    "WebhookReply",
    "parse_detail",
    "parse_trip",
    "parse_trip_event",
]
