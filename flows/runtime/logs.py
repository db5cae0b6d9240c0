"""The worker's log: JSON lines or text, both redacted, with the record in hand as context.

`BIZBUS_LOG_FORMAT=json` writes one JSON object a line: time, level, logger, message and, while a
stage handles a record, its flow, stage, topic, partition, offset, event id and correlation id.
Redaction: a record's `extra` fields pass only if `ALLOWED_FIELDS` names them (others are
dropped, their names listed under `redacted`); an exception keeps its class and stack frames,
but its message only when it is one of ours (written to carry no data) or a Kafka/OS error;
an exception passed as a message argument is shown the same way. Messages never get payloads.
"""

import json
import logging
import traceback
from collections.abc import Iterator
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from aiokafka.errors import KafkaError

from bizbus.connectors.errors import IntegrationError
from bizbus.flows.runtime.record import RawRecord
from bizbus.schemas import SchemaError

__all__ = [
    "ALLOWED_FIELDS",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "bind_record",
    "failed_at",
    "logging_config",
    "safe_exception",
    "unbind",
]

LogFormat = Literal["json", "text"]
ALLOWED_FIELDS = frozenset(
    {"flow", "stage", "topic", "partition", "offset", "event_id", "correlation_id", "trace_id",
     "system", "feed", "state", "operation", "attempts", "error_class", "seconds"}
)  # fmt: skip
"""`extra` fields a log record may carry into the output; any other is dropped."""
TEXT_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
_SAFE_MESSAGES = (IntegrationError, SchemaError, KafkaError, OSError, TimeoutError)
# Every attribute a LogRecord has of its own; the rest came in through `extra`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_MAX_CHAIN = 5

InHand = tuple[str, str, RawRecord] | None
_in_hand: ContextVar[InHand] = ContextVar("bizbus_record", default=None)


def bind_record(flow: str, stage: str, record: RawRecord) -> Token[InHand]:
    """Name the record a stage handles now in every log line of this task (undo with `unbind`).

    One context-variable write a record: the fields are read only when a line is logged.
    """
    return _in_hand.set((flow, stage, record))


def unbind(token: Token[InHand]) -> None:
    """Forget the record `bind_record` named."""
    _in_hand.reset(token)


def record_context() -> dict[str, Any]:
    """Return the flow, stage and record coordinates of the record in hand (empty: none)."""
    bound = _in_hand.get()
    if bound is None:
        return {}
    flow, stage, record = bound
    context: dict[str, Any] = {"flow": flow} if flow else {}  # the poller's stage has no flow
    context.update(stage=stage, topic=record.topic, partition=record.partition,
                   offset=record.offset)  # fmt: skip
    for field, header in (("event_id", "ce_id"), ("correlation_id", "ce_correlationid")):
        value = record.header(header)
        if value is not None:
            context[field] = value.decode(errors="replace")[:100]
    traceparent = record.header("ce_traceparent")  # the trace backend finds the line by it
    if traceparent is not None and traceparent.count(b"-") == 3:
        context["trace_id"] = traceparent.split(b"-")[1].decode(errors="replace")[:32]
    return context


def _message_of(error: BaseException) -> str:
    if isinstance(error, _SAFE_MESSAGES):
        return str(error)[:500]
    return "(message withheld: it may echo record data)"


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )


def safe_exception(error: BaseException) -> str:
    """Return a traceback of `error` and its causes without any message that may hold data."""
    blocks: list[str] = []
    for link in reversed(list(_chain(error))):
        frames = traceback.format_list(traceback.extract_tb(link.__traceback__))
        blocks.append(
            "Traceback (most recent call last):\n"
            + "".join(frames)
            + f"{type(link).__module__}.{type(link).__qualname__}: {_message_of(link)}"
        )
    return "\n\nThe above led to:\n\n".join(blocks)


def failed_at(error: BaseException) -> str:
    """Return where `error` was raised: `file.py:123 in function` (its innermost frame)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "an unknown place"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"


def _safe_args(record: logging.LogRecord) -> None:
    if isinstance(record.args, tuple) and any(isinstance(a, BaseException) for a in record.args):
        record.args = tuple(
            f"{type(a).__name__}: {_message_of(a)}" if isinstance(a, BaseException) else a
            for a in record.args
        )


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


class TextFormatter(logging.Formatter):
    """faust's usual text line, exceptions redacted like the JSON lines."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """Return the line, any exception argument shown by class (and safe message) only."""
        _safe_args(record)
        return super().format(record)

    def formatException(self, ei: Any) -> str:
        """Return the redacted traceback (`safe_exception`)."""
        return safe_exception(ei[1]) if ei and ei[1] is not None else ""


class JsonFormatter(logging.Formatter):
    """One JSON object a line: message, level, logger, context and allow-listed fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the JSON line of `record`."""
        _safe_args(record)
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **record_context(),
        }
        redacted = []
        for name, value in record.__dict__.items():
            if name in _STANDARD:
                continue
            if name in ALLOWED_FIELDS:
                line[name] = value if isinstance(value, int | float | bool) else str(value)
            else:
                redacted.append(name)
        if redacted:
            line["redacted"] = sorted(redacted)
        if record.exc_info and record.exc_info[1] is not None:
            line["exception"] = safe_exception(record.exc_info[1])
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(log_format: LogFormat, level: int | str = "INFO") -> dict[str, Any]:
    """Return the `logging.config.dictConfig` of a worker: one handler to stdout, our formatter."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"bizbus": {"()": formatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "bizbus",
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"level": level, "handlers": ["default"]},
        # httpx logs every request URL at INFO: noisy, and a query string may carry record data.
        "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
    }
