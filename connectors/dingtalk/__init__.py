"""DingTalk (OA) connector: workflow 1.0 approvals, app access token, encrypted callbacks.

Sources: ``DingTalkWebhookReceiver`` (HTTP push, answered with an encrypted ``success``) or
Stream mode (``stream.stream_batches``, the gateway's WebSocket), and catch-up polling of
instance ids after outages. Limits: 20 calls/s per app and API. See ``connector.DingTalkConnector``.
"""

from bizbus.connectors.dingtalk.client import DingTalkClient, DingTalkRejected
from bizbus.connectors.dingtalk.connector import DingTalkConnector
from bizbus.connectors.dingtalk.crypto import DingTalkCrypto
from bizbus.connectors.dingtalk.forms import parse_detail, parse_trip
from bizbus.connectors.dingtalk.receiver import DingTalkWebhookReceiver
from bizbus.connectors.dingtalk.settings import DingTalkSettings

__all__ = [
    "DingTalkClient",
    "DingTalkConnector",
    "DingTalkCrypto",
    "DingTalkRejected",
    "DingTalkSettings",
    "DingTalkWebhookReceiver",
    "parse_detail",
    "parse_trip",
]
