"""Instances bizbus files and the decisions people make on them, in Feishu's shapes; pure.

``fill_form`` turns field values (custom id or widget id → text) into the ``form`` JSON string
that ``POST /approval/v4/instances`` takes, typed by the definition's own widgets. ``decision_of``
reads an instance detail's outcome: its status, when it ended, and the approver's comment
(the decisive ``PASS``/``REJECT`` timeline entry's, else the last of ``comment_list``).
"""

from collections.abc import Mapping
from typing import Any

import orjson

from bizbus.connectors.approvals import Decision
from bizbus.connectors.errors import ConfigError
from bizbus.connectors.feishu.forms import InstanceDetail
from bizbus.connectors.fields import text

__all__ = ["Decision", "decision_of", "fill_form"]

_TEXT_WIDGETS = frozenset({"input", "textarea"})
_DECISIVE = frozenset({"PASS", "REJECT"})


def fill_form(definition_form: Any, values: Mapping[str, str]) -> str:
    """The instance ``form`` JSON for ``values``, keyed by each widget's custom id or id.

    Raises:
        ConfigError: The definition lacks a text widget for a value (the OA form was set up
            differently from what bizbus files: fix the definition, not the data).
    """
    widgets = orjson.loads(definition_form) if isinstance(definition_form, str | bytes) else []
    by_key: dict[str, Mapping[str, Any]] = {}
    for widget in widgets if isinstance(widgets, list) else []:
        if isinstance(widget, Mapping) and widget.get("type") in _TEXT_WIDGETS:
            for key in (widget.get("custom_id"), widget.get("id")):
                if isinstance(key, str) and key:
                    by_key.setdefault(key, widget)
    form = []
    for key, value in values.items():
        widget = by_key.get(key)
        if widget is None:
            raise ConfigError(
                f"feishu: the approval definition has no input or textarea widget {key!r}"
            )
        form.append({"id": widget["id"], "type": widget["type"], "value": value})
    return orjson.dumps(form).decode()


def decision_of(detail: InstanceDetail) -> Decision:
    """The outcome of an instance: status, the approver's comment, when it ended."""
    comment = None
    for entry in reversed(detail.timeline):
        if entry.get("type") in _DECISIVE:
            comment = text(entry.get("comment"))
            break
    if comment is None:
        comments = detail.raw.get("comment_list")
        if isinstance(comments, list) and comments and isinstance(comments[-1], Mapping):
            comment = text(comments[-1].get("comment"))
    return Decision(detail.status, comment, detail.end_time)
