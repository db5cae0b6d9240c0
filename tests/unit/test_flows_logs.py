"""Log lines: JSON with the record in hand as context, allow-listed fields, redacted errors."""

import json
import logging

import pytest

from bizbus.connectors.errors import MappingError
from bizbus.flows.runtime.logs import (
    JsonFormatter,
    TextFormatter,
    bind_record,
    failed_at,
    logging_config,
    unbind,
)
from bizbus.flows.runtime.record import RawRecord

CANARY = "张三 zhang.san@example.cn"
RECORD = RawRecord(
    topic="src.crm.account",
    partition=3,
    offset=1207,
    key=b"Account:001A",
    value=CANARY.encode(),
    headers=[
        ("ce_id", b"ev-42"),
        ("ce_correlationid", b"deal-7"),
        ("ce_traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ],
)


def line(
    message: str = "handled %s",
    *args: object,
    exc: BaseException | None = None,
    **extra: object,
) -> logging.LogRecord:
    record = logging.makeLogRecord(
        {"name": "bizbus.test", "levelno": logging.ERROR, "levelname": "ERROR", "msg": message,
         "args": args or ("it",), **extra}
    )  # fmt: skip
    if exc is not None:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    return record


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:  # noqa: BLE001 - the test wants it with its traceback
        return caught


def as_json(record: logging.LogRecord) -> dict[str, object]:
    parsed: dict[str, object] = json.loads(JsonFormatter().format(record))
    return parsed


def test_a_line_carries_the_record_in_hand_and_forgets_it_after() -> None:
    bound = bind_record("customers", "crm-accounts", RECORD)
    try:
        shown = as_json(line())
    finally:
        unbind(bound)
    assert shown["message"] == "handled it" and shown["level"] == "error"
    assert {k: shown[k] for k in ("flow", "stage", "topic", "partition", "offset")} == {
        "flow": "customers", "stage": "crm-accounts", "topic": "src.crm.account",
        "partition": 3, "offset": 1207,
    }  # fmt: skip
    assert (shown["event_id"], shown["correlation_id"]) == ("ev-42", "deal-7")
    assert shown["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert "topic" not in as_json(line())
    assert CANARY not in json.dumps(shown, ensure_ascii=False)


def test_extra_fields_pass_only_the_allow_list() -> None:
    shown = as_json(line(system="erp", attempts=3, payload={"name": CANARY}, email=CANARY))
    assert (shown["system"], shown["attempts"]) == ("erp", 3)
    assert shown["redacted"] == ["email", "payload"]
    assert CANARY not in json.dumps(shown, ensure_ascii=False)


def test_an_unexpected_error_keeps_its_class_and_frames_not_its_message() -> None:
    try:
        try:
            int(CANARY)
        except ValueError as inner:
            raise KeyError(CANARY) from inner
    except KeyError as error:
        shown = as_json(line(exc=error))
    text = str(shown["exception"])
    assert CANARY not in text and "zhang.san" not in text
    assert "builtins.ValueError: (message withheld" in text
    assert "builtins.KeyError: (message withheld" in text
    assert "test_flows_logs.py" in text and "int(CANARY)" in text  # where, not what


def test_our_own_errors_keep_their_message() -> None:
    error = raised(MappingError("crm: unknown billing country"))
    shown = as_json(line(exc=error))
    assert "MappingError: crm: unknown billing country" in str(shown["exception"])


def test_an_exception_given_as_a_message_argument_is_shown_by_class() -> None:
    shown = as_json(line("poll failed: %s", ValueError(CANARY)))
    assert (
        shown["message"] == "poll failed: ValueError: (message withheld: it may echo record data)"
    )


def test_text_lines_redact_errors_too() -> None:
    error = raised(ValueError(CANARY))
    text = TextFormatter().format(line("poll failed: %s", error, exc=error))
    assert CANARY not in text and "[ERROR] poll failed: ValueError: (message withheld" in text


def test_failed_at_names_the_innermost_frame() -> None:
    error = raised(ValueError(CANARY))
    assert failed_at(error).startswith("test_flows_logs.py:") and "in raised" in failed_at(error)


@pytest.mark.parametrize(("name", "formatter"), [("json", JsonFormatter), ("text", TextFormatter)])
def test_the_worker_log_config_picks_the_formatter(name: str, formatter: type) -> None:
    config = logging_config(name, "INFO")  # type: ignore[arg-type]
    assert config["formatters"]["bizbus"]["()"] is formatter
    assert config["loggers"]["httpx"]["level"] == "WARNING"
