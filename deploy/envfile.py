"""Render `deploy/.env.example` from the settings classes, so the list never drifts from code.

`python -m bizbus.deploy.envfile > deploy/.env.example` rewrites it; a unit test fails on drift.
"""

import importlib
from typing import Any

from pydantic import SecretStr
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from bizbus.connectors.registry import DIALECTS

# title, "module:Class" — add a line when a settings class is added; connector settings come
# from the connector registry (one line there per dialect).
SETTINGS: list[tuple[str, str]] = [
    ("Worker runtime", "bizbus.flows.settings:RuntimeSettings"),
    ("Trace export (OpenTelemetry, OTLP/HTTP)", "bizbus.flows.settings:TracingSettings"),
    ("Personal data on Kafka (keys)", "bizbus.flows.personal:PersonalDataSettings"),
    (
        "Kafka client security (worker and CLI)",
        "bizbus.flows.runtime.kafka_config:KafkaSecuritySettings",
    ),
    (
        "Catalog sync: field ownership and conflicts",
        "bizbus.flows.catalog.ownership:CatalogSettings",
    ),
    (
        "Discount approvals (orders held for the OA beyond a sales role's limit)",
        "bizbus.flows.orders.discounts:DiscountSettings",
    ),
    (
        "Stock visibility flow (ERP stock → CRM availability)",
        "bizbus.flows.stock_visibility.settings:StockSettings",
    ),
    (
        "Local Kafka broker (bizbus kafka up, tests)",
        "bizbus.deploy.kafka.settings:KafkaRuntimeSettings",
    ),
    ("Connector dialect of each role", "bizbus.connectors.registry:DialectSettings"),
    *((f"{d.role.upper()}: {d.title}", d.settings) for d in DIALECTS.values()),
    ("Sandbox ERP", "bizbus.deploy.sandbox.erp:ErpSandboxSettings"),
    ("Sandbox OA", "bizbus.deploy.sandbox.oa:OaSandboxSettings"),
    ("Sandbox CRM", "bizbus.deploy.sandbox.crm:CrmSandboxSettings"),
]


def _load(path: str) -> type[BaseSettings]:
    module, _, name = path.partition(":")
    cls: type[BaseSettings] = getattr(importlib.import_module(module), name)
    return cls


def _default(field: Any) -> str:
    if field.default is PydanticUndefined or field.default is None:
        return ""
    if field.default_factory is not None:
        return ""
    value = field.default
    if isinstance(value, SecretStr):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(getattr(value, "value", value))


def variables() -> dict[str, tuple[type[BaseSettings], str]]:
    """Return every `BIZBUS_*` variable bizbus reads → (its settings class, field name)."""
    found: dict[str, tuple[type[BaseSettings], str]] = {}
    for _, path in SETTINGS:
        cls = _load(path)
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name in cls.model_fields:
            found[f"{prefix}{name}".upper()] = (cls, name)
    return found


def is_secret(variable: str) -> bool:
    """Return whether `variable` is a credential (SecretStr): for a Secret, not a ConfigMap."""
    cls, name = variables()[variable]
    return "SecretStr" in str(cls.model_fields[name].annotation)


def render() -> str:
    """Return the text of deploy/.env.example."""
    lines = [
        "# Every setting bizbus reads, generated from the settings classes by",
        "# `python -m bizbus.deploy.envfile > deploy/.env.example`. Empty = no default",
        "# (required when the component is used) or a computed default. Never commit real secrets.",
    ]
    for title, path in SETTINGS:
        cls = _load(path)
        prefix = str(cls.model_config.get("env_prefix", ""))
        lines += ["", f"# --- {title} ({path}) ---"]
        for name, field in cls.model_fields.items():
            required = field.is_required()
            note = field.description or ""
            lines.append(f"# {note}{' (required)' if required else ''}".rstrip())
            lines.append(f"{prefix}{name}".upper() + "=" + _default(field))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")  # noqa: T201 - the module's output is the file
