"""The OA seam: what flows need of any approval system, whatever its dialect.

An OA dialect's connector (Feishu, DingTalk) reads its own detail and form layout into the
neutral ``InstanceDetail`` and ``TripRequest`` here (statuses PENDING, APPROVED, REJECTED,
CANCELED, REVERTED, DELETED), answers its callbacks with ``WebhookReply`` records of entity
``approval_instance``, and looks people up as directory entries (``name``, ``user_id``,
``employee_no``, ``email``). Flows hold an ``ApprovalConnector`` and never a dialect.
"""

from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, ClassVar, Protocol, runtime_checkable

from bizbus.connectors.base import Cursor, SourceRecord
from bizbus.connectors.fields import text
from bizbus.connectors.webhooks import ReplayStore

__all__ = [
    "CHINA",
    "INSTANCE_ENTITY",
    "ApprovalConnector",
    "ApprovalReceiver",
    "ApprovalSettings",
    "Decision",
    "InstanceDetail",
    "StreamBatch",
    "TripLeg",
    "TripRequest",
    "WebhookReply",
    "widget_text",
]

INSTANCE_ENTITY = "approval_instance"
_OK = b"{}"

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")


def widget_text(value: Any) -> str | None:
    """A widget's value as text: a string as ``fields.text`` reads it, an object by its name.

    Option widgets hold ``{"name": ...}`` objects and multi-selects lists of them (joined with
    the ideographic comma); numbers and other shapes are no text.
    """
    if isinstance(value, str):
        return text(value)
    if isinstance(value, Mapping):
        return widget_text(value.get("name") or value.get("text") or value.get("value"))
    if isinstance(value, list):
        parts = [t for t in (widget_text(v) for v in value) if t]
        return "、".join(parts) or None
    return None


@dataclass(frozen=True, slots=True)
class InstanceDetail:
    """An approval instance as ``GET /instances/{instance_code}`` describes it.

    Attributes:
        instance_code: The instance code (canonical key of the request).
        approval_code: The definition (form) code.
        approval_name: The definition's name (e.g. 出差申请).
        status: PENDING, APPROVED, REJECTED, CANCELED, DELETED, ...
        uuid: The idempotency uuid it was created with, if any.
        user_id: The applicant's user_id.
        open_id: The applicant's open_id.
        department_id: The applicant's department id.
        serial_number: The human-facing serial number.
        start_time: When it was filed.
        end_time: When it ended (None while open).
        widgets: The parsed form widgets.
        tasks: The approval tasks (``task_list``).
        timeline: The timeline entries.
        raw: The detail as Feishu returned it.
    """

    instance_code: str
    approval_code: str
    approval_name: str
    status: str
    uuid: str | None
    user_id: str | None
    open_id: str | None
    department_id: str | None
    serial_number: str | None
    start_time: datetime
    end_time: datetime | None
    widgets: tuple[Mapping[str, Any], ...]
    tasks: tuple[Mapping[str, Any], ...]
    timeline: tuple[Mapping[str, Any], ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def updated_at(self) -> datetime:
        """The last change we can see: ``end_time`` once ended, else ``start_time``."""
        return self.end_time or self.start_time

    @property
    def position(self) -> Cursor:
        """Feed position: (``updated_at``, ``instance_code``)."""
        return Cursor(self.updated_at, self.instance_code)

    def widget(self, *names: str, kind: str | None = None) -> Mapping[str, Any] | None:
        """The first widget whose id, custom_id or name (case-insensitive) is in ``names``."""
        wanted = {name.casefold() for name in names}
        for widget in self.widgets:
            if kind is not None and widget.get("type") != kind:
                continue
            keys = (widget.get("id"), widget.get("custom_id"), widget.get("name"))
            if any(isinstance(k, str) and k.casefold() in wanted for k in keys):
                return widget
        return None


@dataclass(frozen=True, slots=True)
class TripLeg:
    """One schedule of a trip group: where from, where to, when, how."""

    start: datetime
    end: datetime
    departure: str | None
    destination: str
    transportation: str | None = None
    one_round: str | None = None
    remark: str | None = None


@dataclass(frozen=True, slots=True)
class TripRequest:
    """A business-trip request read from an approval instance (or a trip event).

    Names, e-mails and employee numbers beyond the form are for flows to look up by user id.

    Attributes:
        instance_code: The instance code.
        approval_code: The definition code.
        status: The instance status (APPROVED for a trip event).
        applicant_user_id: The applicant's user_id.
        applicant_open_id: The applicant's open_id.
        employee_no: The employee number when the form carries one (工号), else None.
        legs: The schedules, in form order.
        purpose: The purpose widget (出差事由), else the trip group's reason.
        approvers: user_ids of every approval task, in task order.
        approved_by: user_ids of tasks that approved.
        applied_at: When the request was filed.
        decided_at: When it ended (approved, rejected, cancelled), else None.
    """

    instance_code: str
    approval_code: str
    status: str
    applicant_user_id: str | None
    applicant_open_id: str | None
    employee_no: str | None
    legs: tuple[TripLeg, ...]
    purpose: str | None
    approvers: tuple[str, ...] = ()
    approved_by: tuple[str, ...] = ()
    applied_at: datetime | None = None
    decided_at: datetime | None = None

    @property
    def destinations(self) -> tuple[str, ...]:
        """Destination cities in order, each once."""
        return tuple(dict.fromkeys(leg.destination for leg in self.legs))

    @property
    def departure_city(self) -> str | None:
        """Where the first leg starts."""
        return self.legs[0].departure

    @property
    def departure_date(self) -> date:
        """First day of the trip, in the schedule's own time zone."""
        return min(leg.start.date() for leg in self.legs)

    @property
    def return_date(self) -> date:
        """Last day of the trip (inclusive), in the schedule's own time zone."""
        return max(leg.end.date() for leg in self.legs)


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What to answer the OA's callback, and what to hand on.

    Attributes:
        status: HTTP status to answer (200 accepted, duplicate or challenge; 400/401 refused).
        body: Body to answer (``{"challenge": ...}`` for a Feishu URL verification, an
            encrypted ``success`` for DingTalk).
        records: New events to publish, each with its cursor (empty for duplicates).
        keys: Dedupe keys this callback took (nonce, event id, business key); pass the reply to
            ``release`` when its records could not be published, and answer 503, so the OA's
            redelivery is not dropped. A durable store records them once they are published.
        reason: Why nothing was handed on (``duplicate``, ``ignored``, a rejection), or None.
    """

    status: int
    body: bytes = _OK
    records: tuple[SourceRecord, ...] = ()
    keys: tuple[str, ...] = ()
    reason: str | None = None

    content_type = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Decision:
    """How an instance ended (or that it has not): ``status`` and the approver's comment."""

    status: str
    comment: str | None
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class StreamBatch:
    """What an OA's event stream delivers at once (a push batch of the worker's runtime).

    Attributes:
        records: The changed instances, in order.
        replay_id: A marker of progress (the OA may keep no position: empty when none).
        catch_up: Objects whose changes the stream could not list: poll them now.
    """

    records: tuple[SourceRecord, ...]
    replay_id: bytes = b""
    catch_up: frozenset[str] = frozenset()


class ApprovalReceiver(Protocol):
    """A dialect's callback receiver: framework-agnostic, answers fast, no I/O."""

    @property
    def replay(self) -> ReplayStore:
        """The dedupe store (a worker swaps in the one its whole group shares)."""
        ...

    @replay.setter
    def replay(self, store: ReplayStore) -> None: ...

    def precheck(
        self, raw_body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> WebhookReply | None:
        """Answer a stale or forged callback at once; None for one worth reading."""
        ...

    async def handle(
        self, raw_body: bytes, headers: Mapping[str, str], query: Mapping[str, str] | None = None
    ) -> WebhookReply:
        """Verify and decode one callback (``query``: the URL's parameters, DingTalk signs them)."""
        ...

    def release(self, reply: WebhookReply) -> None:
        """Forget the dedupe keys of a reply whose records were not published."""
        ...


class ApprovalSettings(Protocol):
    """The settings flows read of any OA dialect."""

    @property
    def poll_interval_s(self) -> float:
        """Seconds between catch-up passes."""
        ...

    @property
    def replay_ttl_s(self) -> float:
        """Seconds a callback's dedupe keys are remembered."""
        ...

    def claims(self) -> dict[str, str]:
        """Definition (form) code → the handler that reads its instances."""
        ...

    def code_of(self, handler: str) -> str | None:
        """The definition whose instances ``handler`` reads (and bizbus files), if any."""
        ...


@runtime_checkable
class ApprovalConnector(Protocol):
    """What flows need of the OA: callbacks, catch-up, details, trips and people."""

    dialect: ClassVar[str]
    """Its ``BIZBUS_OA_DIALECT`` name; its callbacks arrive at ``/webhooks/<dialect>``."""
    callback_deadline_s: ClassVar[float]
    """Seconds a callback may take to be published and answered (the OA waits a little more)."""

    @property
    def settings(self) -> ApprovalSettings:
        """Its validated settings."""
        ...

    @property
    def receiver(self) -> ApprovalReceiver:
        """Its callback receiver."""
        ...

    async def subscribe_all(self) -> list[str]:
        """Ask for the followed definitions' events where the OA needs asking; the new ones."""
        ...

    def changes(
        self, entity: str, since: Cursor | None, *, follow: bool = False
    ) -> AsyncGenerator[SourceRecord, None]:
        """Catch up on ``approval_instance`` changes after ``since``, in cursor order."""
        ...

    async def detail_of(self, record: SourceRecord) -> InstanceDetail:
        """The detail of a record: carried by catch-up records, fetched for callback ones."""
        ...

    async def create_instance(
        self, approval_code: str, applicant: str, values: Mapping[str, str], *, uuid: str
    ) -> str:
        """File an approval instance once per ``uuid`` (text fields by key); its code or "".

        Raises:
            ConfigError: The definition lacks a field ``values`` names.
        """
        ...

    async def decision(self, record: SourceRecord) -> tuple[InstanceDetail, Decision]:
        """The detail of an instance record and how it was decided (status, comment)."""
        ...

    def stream_safety_poll_s(self) -> float | None:
        """Seconds between safety-net polls while events come by stream; None: no stream."""
        ...

    def stream_batches(self) -> AsyncGenerator[StreamBatch, None]:
        """The OA's event stream until its connection ends (only where streaming is on)."""
        ...

    def trip_of(self, detail: InstanceDetail) -> TripRequest:
        """Read the trip of a travel form in this dialect's layout (SchemaError if none)."""
        ...

    async def directory_user(self, user_id: str) -> Mapping[str, Any]:
        """The directory entry of a person (``name``, ``user_id``, ``employee_no``, ``email``).

        Raises:
            MappingError: The directory has no such person.
        """
        ...
