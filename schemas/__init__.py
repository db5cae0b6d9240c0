"""Event contracts: the CloudEvents envelope, business payloads and the topic catalog.

Connectors and flows import from here only: `make_event` builds an event, `encode_record` /
`decode_record` move it through Kafka (sealing personal fields with a `KeyRing`), `TOPICS` /
`topic_for` say where it goes.
"""

from bizbus.schemas import payloads
from bizbus.schemas.codec import Headers, decode_record, encode_record, masked_record
from bizbus.schemas.envelope import Envelope, System
from bizbus.schemas.errors import SchemaError
from bizbus.schemas.events import event_to_dict, make_event, parse_event
from bizbus.schemas.payloads import *  # noqa: F403 - every payload, listed once in payloads.__all__
from bizbus.schemas.payloads.operations import ShipmentLine
from bizbus.schemas.personal import PERSONAL, PERSONAL_DATA, KeyRing, personal_paths
from bizbus.schemas.registry import EVENT_TYPES, dataschema_for, event_model, payload_model
from bizbus.schemas.topics import (
    DLQ_SUFFIX,
    TOPICS,
    TopicSpec,
    dlq_for,
    source_topic,
    topic_for,
)
from bizbus.schemas.values import CurrencyCode, Money, Payload

__all__ = [
    "DLQ_SUFFIX",
    "EVENT_TYPES",
    "PERSONAL",
    "PERSONAL_DATA",
    "TOPICS",
    "CurrencyCode",
    "Envelope",
    "Headers",
    "KeyRing",
    "Money",
    "Payload",
    "SchemaError",
    "ShipmentLine",
    "System",
    "TopicSpec",
    "dataschema_for",
    "decode_record",
    "dlq_for",
    "encode_record",
    "event_model",
    "event_to_dict",
    "make_event",
    "masked_record",
    "parse_event",
    "payload_model",
    "personal_paths",
    "source_topic",
    "topic_for",
]
__all__ += payloads.__all__
