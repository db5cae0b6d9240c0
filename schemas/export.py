"""Contracts out: one JSON Schema (draft 2020-12) per event type and one AsyncAPI 3.0 document.

`render_contracts()` is pure (path → bytes), so a test can compare it with the committed files;
`export_contracts()` writes them, refusing changes that break a published version.
"""

import json
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from bizbus.schemas.compat import breaking_changes
from bizbus.schemas.envelope import TRACEPARENT_PATTERN
from bizbus.schemas.errors import SchemaError
from bizbus.schemas.personal import KEY_ID_HEADER, SEALED_PREFIX, personal_paths
from bizbus.schemas.registry import EVENT_TYPES, dataschema_for
from bizbus.schemas.topics import TOPICS, TopicSpec
from bizbus.schemas.values import PERSONAL_DATA, Payload

__all__ = [
    "ASYNCAPI_FILE",
    "CONTRACTS_VERSION",
    "JSONSCHEMA_DIR",
    "asyncapi_document",
    "check_compatibility",
    "export_contracts",
    "payload_json_schema",
    "render_contracts",
]

CONTRACTS_VERSION = "1.0.0"
JSONSCHEMA_DIR = "jsonschema"
ASYNCAPI_FILE = "asyncapi.json"
_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_KAFKA_BINDING = "0.5.0"


def payload_json_schema(event_type: str) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of an event type's `data`."""
    model = EVENT_TYPES[event_type]
    schema = model.model_json_schema(mode="validation")
    return {"$schema": _DRAFT_2020_12, "$id": dataschema_for(event_type), **schema}


def _summary(model: type[Payload]) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0]


def _headers_schema(event_type: str) -> dict[str, Any]:
    text = {"type": "string"}
    properties: dict[str, Any] = {
        "ce_specversion": {"const": "1.0", "description": "CloudEvents version."},
        "ce_id": {**text, "description": "Event id (UUID)."},
        "ce_source": {**text, "description": "URI reference of the producer."},
        "ce_type": {"const": event_type, "description": "Event type."},
        "ce_subject": {**text, "description": "Canonical entity key (= record key)."},
        "ce_time": {**text, "format": "date-time", "description": "When it happened."},
        "content-type": {"const": "application/json", "description": "Media type of the value."},
        "ce_dataschema": {"const": dataschema_for(event_type), "description": "Schema URI."},
        "ce_correlationid": {**text, "description": "Shared by every event of one case."},
        "ce_causationid": {**text, "description": "Id of the causing event, if any."},
        "ce_origin": {"enum": ["crm", "erp", "oa", "bizbus"], "description": "Authoring system."},
        "ce_entityversion": {**text, "pattern": "^[0-9]+$", "description": "Entity version."},
        "ce_traceparent": {
            **text,
            "pattern": TRACEPARENT_PATTERN,
            "description": "W3C traceparent the event was created in (distributed tracing).",
        },
        "ce_tracestate": {**text, "description": "W3C tracestate going with ce_traceparent."},
    }
    if personal_paths(event_type):
        properties[KEY_ID_HEADER] = {
            **text,
            "description": "Key id of the AES-256-GCM key that sealed the fields tagged "
            f"{PERSONAL_DATA} (each then `{SEALED_PREFIX}<base64url>`); absent: in clear.",
        }
    required = [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_subject",
        "ce_time",
        "ce_correlationid",
        "ce_origin",
    ]
    return {"type": "object", "properties": properties, "required": required}


def _channel_id(topic: TopicSpec) -> str:
    return topic.name.replace(".", "_")


def asyncapi_document() -> dict[str, Any]:
    """Return the AsyncAPI 3.0 document: every topic, its key, its messages and their schemas."""
    payloads = [EVENT_TYPES[event_type] for event_type in EVENT_TYPES]
    _, definitions = models_json_schema(
        [(model, "validation") for model in payloads],
        ref_template="#/components/schemas/{model}",
    )
    key_of: dict[str, str] = {}
    for topic in reversed(list(TOPICS.values())):
        key_of.update(dict.fromkeys(topic.event_types, topic.key))
    messages = {
        model.__name__: {
            "name": model.EVENT_TYPE,
            "title": model.__name__,
            "summary": _summary(model),
            "contentType": "application/json",
            "headers": _headers_schema(model.EVENT_TYPE),
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": key_of[model.EVENT_TYPE]},
                    "bindingVersion": _KAFKA_BINDING,
                }
            },
        }
        for model in payloads
    }
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in TOPICS.values():
        channel = _channel_id(topic)
        names = [EVENT_TYPES[event_type].__name__ for event_type in topic.event_types]
        configuration: dict[str, Any] = {
            "cleanup.policy": ["compact" if topic.compacted else "delete"]
        }
        if not topic.compacted:
            configuration["retention.ms"] = topic.retention_days * 24 * 3600 * 1000
        channels[channel] = {
            "address": topic.name,
            "title": topic.name,
            "description": f"{topic.description} Key: {topic.key}.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
            "bindings": {
                "kafka": {
                    "topic": topic.name,
                    "partitions": topic.partitions,
                    "topicConfiguration": configuration,
                    "bindingVersion": _KAFKA_BINDING,
                }
            },
        }
        operations[f"send_{channel}"] = {
            "action": "send",
            "title": f"Publish to {topic.name}",
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in names],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "bizbus business events",
            "version": CONTRACTS_VERSION,
            "description": (
                "CloudEvents 1.0 over Kafka (binary mode: ce_* headers, JSON value, "
                "record key = canonical entity key) linking CRM, ERP and OA. Payload fields "
                f"tagged {PERSONAL_DATA} hold personal data: sealed field by field when the "
                f"record carries {KEY_ID_HEADER}; the schemas describe the opened values."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "A broker started with `bizbus kafka up`.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": definitions["$defs"], "messages": messages},
    }


def _dump(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


def render_contracts() -> dict[str, bytes]:
    """Return every contract file, relative path → content (deterministic)."""
    files = {
        f"{JSONSCHEMA_DIR}/{event_type}.json": _dump(payload_json_schema(event_type))
        for event_type in sorted(EVENT_TYPES)
    }
    files[ASYNCAPI_FILE] = _dump(asyncapi_document())
    return files


def check_compatibility(directory: Path) -> list[str]:
    """Compare the contracts published in `directory` with the code; list breaking changes.

    Each published event type must stay readable (`compat.breaking_changes`), and each
    published topic must still exist: consumers subscribe to topics by name.
    """
    problems = [
        f"{address}: published topic removed"
        for address in sorted(_published_topics(directory) - set(TOPICS))
    ]
    published = sorted((directory / JSONSCHEMA_DIR).glob("*.json"))
    for path in published:
        event_type = path.name.removesuffix(".json")
        if event_type not in EVENT_TYPES:
            problems.append(f"{event_type}: published event type removed")
            continue
        old = json.loads(path.read_text(encoding="utf-8"))
        new = payload_json_schema(event_type)
        problems += [f"{event_type}: {item}" for item in breaking_changes(old, new)]
    return problems


def _published_topics(directory: Path) -> set[str]:
    path = directory / ASYNCAPI_FILE
    if not path.exists():
        return set()
    channels = json.loads(path.read_text(encoding="utf-8")).get("channels", {})
    return {str(channel["address"]) for channel in channels.values()}


def export_contracts(directory: Path, *, allow_breaking: bool = False) -> list[Path]:
    """Write the contracts under `directory` and return the paths written.

    Raises:
        SchemaError: A published version would change incompatibly (unless `allow_breaking`).
    """
    problems = check_compatibility(directory)
    if problems and not allow_breaking:
        raise SchemaError(
            "breaking change to a published event version; add a new major version instead:\n  "
            + "\n  ".join(problems)
        )
    written = []
    for relative, content in render_contracts().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written
