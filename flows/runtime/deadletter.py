"""Build dead-letter records: the original record plus headers that say why it failed.

Only our own error messages (IntegrationError and the schemas' SchemaError, both written to carry
no personal data or secrets) reach the headers; any other exception's text may echo record data,
so only its class is kept.
"""

import time

from bizbus.connectors.errors import IntegrationError
from bizbus.flows.runtime.holds import REPLAY_HEADER
from bizbus.flows.runtime.record import Headers, RawRecord
from bizbus.schemas import DLQ_SUFFIX as DLQ_SUFFIX  # re-exported: trace reads dl.DLQ_SUFFIX
from bizbus.schemas import SchemaError

HEADER_PREFIX = "bizbus_dlq_"
ERROR_CLASS = HEADER_PREFIX + "error_class"
REASON = HEADER_PREFIX + "reason"
ATTEMPTS = HEADER_PREFIX + "attempts"
SOURCE_TOPIC = HEADER_PREFIX + "topic"
SOURCE_PARTITION = HEADER_PREFIX + "partition"
SOURCE_OFFSET = HEADER_PREFIX + "offset"
FAILED_AT = HEADER_PREFIX + "failed_at_ms"
STAGE = HEADER_PREFIX + "stage"
_MAX_REASON = 500


def safe_reason(error: BaseException) -> str:
    """Return a message fit for headers and logs: ours verbatim, others by class name only."""
    if isinstance(error, IntegrationError | SchemaError):
        text = str(error) or type(error).__name__
    else:
        text = f"unexpected {type(error).__name__} (message withheld: it may echo record data)"
    return text[:_MAX_REASON]


def dead_letter_headers(
    record: RawRecord, error: BaseException, *, attempts: int, stage: str | None = None
) -> Headers:
    """Return the original headers followed by the dead-letter reason headers."""
    kept = [
        (k, v) for k, v in record.headers if not k.startswith(HEADER_PREFIX) and k != REPLAY_HEADER
    ]
    return [
        *kept,
        *([(STAGE, stage.encode())] if stage else []),
        (ERROR_CLASS, type(error).__name__.encode()),
        (REASON, safe_reason(error).encode()),
        (ATTEMPTS, str(attempts).encode()),
        (SOURCE_TOPIC, record.topic.encode()),
        (SOURCE_PARTITION, str(record.partition).encode()),
        (SOURCE_OFFSET, str(record.offset).encode()),
        (FAILED_AT, str(int(time.time() * 1000)).encode()),
    ]


def replay_headers(headers: Headers) -> Headers:
    """Return a dead letter's headers with the dead-letter ones removed, ready to re-send."""
    return [(k, v) for k, v in headers if not k.startswith(HEADER_PREFIX)]
