"""The one error `schemas/` raises: an event that does not decode or validate.

`connectors/errors.py` re-exports or subclasses it into the shared error tree; a `SchemaError`
is never retriable and sends the record to its dead-letter topic.
"""

from typing import ClassVar

__all__ = ["SchemaError"]


class SchemaError(Exception):
    """A record or event does not match its contract.

    The message names the event type (when known) and the failing field, never the field's value,
    so it is safe to log and to put in dead-letter headers.

    Attributes:
        event_type: The CloudEvents `type` of the record, or None when it could not be read.
        field: Dotted path of the first failing field (``data.lines.0.unit_price.amount``),
            or None when the record failed as a whole (not JSON, headers missing).
    """

    retriable: ClassVar[bool] = False

    def __init__(
        self, message: str, *, event_type: str | None = None, field: str | None = None
    ) -> None:
        self.event_type = event_type
        self.field = field
        where = ", ".join(
            part
            for part in (
                f"type={event_type}" if event_type else "",
                f"field={field}" if field else "",
            )
            if part
        )
        super().__init__(f"{message} ({where})" if where else message)
