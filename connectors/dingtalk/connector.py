"""``DingTalkConnector``: the OA as a Source (callbacks + catch-up), plus instance and user reads.

System: DingTalk open platform, workflow 1.0; auth: an internal app's access token; callbacks
are signed with the subscription Token and sealed with its EncodingAESKey. Limits: 20 calls/s
per app and API (the default rate budget). Implements ``approvals.ApprovalConnector``.
"""

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, ClassVar

from cachetools import TTLCache

from bizbus.connectors.approvals import (
    INSTANCE_ENTITY,
    Decision,
    InstanceDetail,
    StreamBatch,
    TripRequest,
)
from bizbus.connectors.auth import TokenProvider
from bizbus.connectors.base import Cursor, PollState, SourceRecord
from bizbus.connectors.dingtalk.client import (
    USER_NOT_FOUND,
    DingTalkAppToken,
    DingTalkClient,
    DingTalkRejected,
)
from bizbus.connectors.dingtalk.crypto import DingTalkCrypto
from bizbus.connectors.dingtalk.forms import parse_detail, parse_trip, raw_detail
from bizbus.connectors.dingtalk.receiver import DingTalkWebhookReceiver
from bizbus.connectors.dingtalk.settings import DingTalkSettings
from bizbus.connectors.dingtalk.source import CatchUpOptions, read_catch_up
from bizbus.connectors.dingtalk.stream import stream_batches
from bizbus.connectors.errors import MappingError, SchemaError
from bizbus.connectors.feeds import follow_polls
from bizbus.connectors.fields import text
from bizbus.connectors.webhooks import ReplayCache, ReplayStore

__all__ = ["DingTalkConnector", "decision_of", "directory_entry"]

_FILED_TTL_S = 86_400.0


def decision_of(detail: InstanceDetail) -> Decision:
    """The outcome of a DingTalk instance: status, the deciding approver's remark, its end."""
    comment = None
    for entry in reversed(detail.timeline):
        if entry.get("type") == "EXECUTE_TASK_NORMAL":
            comment = text(entry.get("comment"))
            break
    return Decision(detail.status, comment, detail.end_time)


def directory_entry(user: Mapping[str, Any]) -> dict[str, Any]:
    """A legacy ``user/get`` result as the neutral directory entry flows read."""
    return {
        "user_id": text(user.get("userid")),
        "name": text(user.get("name")),
        "employee_no": text(user.get("job_number")),
        "email": text(user.get("org_email")) or text(user.get("email")),
        "leader_user_id": text(user.get("manager_userid")),
    }


class DingTalkConnector(DingTalkClient):
    """The OA connector in DingTalk's dialect: ``receiver``, ``detail_of``, ``changes``, ...

    Args:
        settings: Validated ``DingTalkSettings``.
        transport: An httpx transport (tests).
        token: Override the credential source (tests).
        replay: Dedupe store of the receiver; in-memory by default.
        **http: Override ``HttpConnector`` options (``retry``, ``sleep``, ``timeout``, ...).
    """

    callback_deadline_s: ClassVar[float] = 1.2  # DingTalk waits 1.5 s
    dialect: ClassVar[str] = "dingtalk"

    def __init__(
        self,
        settings: DingTalkSettings,
        *,
        transport: Any = None,
        token: TokenProvider | None = None,
        replay: ReplayStore | None = None,
        **http: Any,
    ) -> None:
        provider = token if token is not None else DingTalkAppToken(
            settings.base_url, settings.app_key, app_secret=settings.app_secret
        )  # fmt: skip
        options: dict[str, Any] = {**settings.http_options(), **http}
        super().__init__(
            settings.base_url, legacy_base_url=settings.legacy_base_url, token=provider,
            transport=transport, **options,
        )  # fmt: skip
        self.settings = settings
        crypto = DingTalkCrypto(
            settings.callback_token.get_secret_value(),
            settings.aes_key.get_secret_value(),
            settings.owner_keys(),
        )
        self.receiver = DingTalkWebhookReceiver(
            crypto,
            handlers=settings.claims(),
            tolerance=settings.webhook_tolerance_s,
            replay=replay if replay is not None else ReplayCache(settings.replay_ttl_s),
        )
        self._sleep_between_polls: Callable[[float], Awaitable[None]] = asyncio.sleep
        # DingTalk's create takes no idempotency key: what this process filed, by uuid.
        self._filed: TTLCache[str, str] = TTLCache(10_000, _FILED_TTL_S)

    async def ping(self) -> None:
        """One cheap authenticated call: list the first followed form's ids of the last minute."""
        code = self.settings.followed_codes()[0]
        async for _ in self.list_instance_ids(code, 0, 60_000, page_size=1):
            return

    async def subscribe_all(self) -> list[str]:
        """Nothing to ask: DingTalk's event subscription is set in the developer console."""
        return []

    async def create_instance(
        self, approval_code: str, applicant: str, values: Mapping[str, str], *, uuid: str
    ) -> str:
        """File an instance of form ``approval_code`` for ``applicant`` (a DingTalk userid).

        ``values`` are text components by business alias (bizAlias), else by label (the key
        is sent as both). DingTalk's create has no idempotency key, so
        a ``uuid`` this process filed already returns the first instance; a redelivery to
        another worker or after a restart files again (a known gap).

        Raises:
            DingTalkRejected: DingTalk refused (unknown form or user, a missing component).
        """
        filed = self._filed.get(uuid)
        if filed is not None:
            return filed
        values_list = [
            {"name": key, "bizAlias": key, "value": value} for key, value in values.items()
        ]
        instance_id = await self.start_instance(approval_code, applicant, values_list)
        self._filed[uuid] = instance_id
        return instance_id

    async def decision(self, record: SourceRecord) -> tuple[InstanceDetail, Decision]:
        """The detail of an instance record and how it was decided (status, remark)."""
        detail = await self.detail_of(record)
        return detail, decision_of(detail)

    async def fetch_detail(self, instance_id: str, process_code: str) -> InstanceDetail:
        """Fetch and parse one instance (the answer lacks its process code: the caller knows it).

        Raises:
            DingTalkRejected: ``aflowProcessInstNotExist`` when the instance does not exist.
            SchemaError: The detail cannot be read.
        """
        result = await self.get_instance(instance_id)
        return parse_detail(raw_detail(instance_id, process_code, result))

    async def detail_of(self, record: SourceRecord) -> InstanceDetail:
        """The detail of a record: carried by catch-up records, fetched for callback ones."""
        carried = record.payload.get("detail")
        if isinstance(carried, dict):
            return parse_detail(carried)
        code = record.payload.get("processCode") or record.payload.get("approval_code")
        return await self.fetch_detail(record.id, code if isinstance(code, str) else "")

    def stream_safety_poll_s(self) -> float | None:
        """``BIZBUS_OA_STREAM_SAFETY_POLL_S`` in stream mode (``BIZBUS_OA_MODE``), else None."""
        return self.settings.stream_safety_poll_s if self.settings.mode == "stream" else None

    def stream_batches(self) -> AsyncGenerator[StreamBatch, None]:
        """Stream mode: one batch per claimed approval event until the connection ends."""
        return stream_batches(self)

    def trip_of(self, detail: InstanceDetail) -> TripRequest:
        """Read the trip of a DingTalk travel form (its 行程 table)."""
        return parse_trip(detail)

    async def directory_user(self, user_id: str) -> Mapping[str, Any]:
        """The directory entry of a DingTalk user id (legacy ``topapi/v2/user/get``).

        Raises:
            MappingError: DingTalk has no such user (60121).
        """
        try:
            return directory_entry(await self.get_user(user_id))
        except DingTalkRejected as exc:
            if exc.code == USER_NOT_FOUND:
                raise MappingError(f"oa: the DingTalk directory has no user {user_id}") from None
            raise

    def catch_up_options(self) -> CatchUpOptions:
        """How catch-up polls read, from the settings."""
        s = self.settings
        return CatchUpOptions(
            process_codes=tuple(s.followed_codes()),
            handlers=s.claims(),
            lookback=timedelta(seconds=s.catchup_lookback_s),
            overlap=timedelta(seconds=s.catchup_overlap_s),
            page_size=s.page_size,
            concurrency=s.detail_concurrency,
        )

    def changes(
        self, entity: str, since: Cursor | None, *, follow: bool = False
    ) -> AsyncGenerator[SourceRecord, None]:
        """Catch up on ``approval_instance`` changes after ``since``, in cursor order.

        One poll to now, then stop (``follow=True``: poll every ``poll_interval_s``). Resuming
        re-reads ``catchup_overlap_s`` before ``since`` (at-least-once). The cursors share the
        callback records' axis (finish or create time, instance id).

        Raises:
            SchemaError: ``entity`` is not ``approval_instance``.
        """
        if entity != INSTANCE_ENTITY:
            raise SchemaError(
                f"dingtalk: no catch-up feed for {entity!r}, only {INSTANCE_ENTITY!r}"
            )
        options = self.catch_up_options()
        return follow_polls(
            lambda state: read_catch_up(self, state, options=options),
            PollState.resume(since),
            follow=follow,
            interval=self.settings.poll_interval_s,
            sleep=self._sleep_between_polls,
        )
