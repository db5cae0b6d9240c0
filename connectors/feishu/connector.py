"""``FeishuConnector``: the OA as a Source (callbacks + catch-up), plus instance and user reads.

System: Feishu/Lark approval v4; auth: tenant_access_token of a self-built app; callbacks are
AES-encrypted and signed (Encrypt Key) and carry the Verification Token. Limits: instance detail
50/s per app (the default rate budget), subscribe 100/min.
"""

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import quote

from bizbus.connectors.approvals import StreamBatch, TripRequest
from bizbus.connectors.auth import TokenProvider
from bizbus.connectors.base import Cursor, PollState, SourceRecord
from bizbus.connectors.errors import MappingError, SchemaError
from bizbus.connectors.feeds import follow_polls
from bizbus.connectors.feishu.client import APPROVAL_V4, FeishuClient, FeishuRejected
from bizbus.connectors.feishu.contact import CONTACT_V3
from bizbus.connectors.feishu.decisions import Decision, decision_of, fill_form
from bizbus.connectors.feishu.forms import InstanceDetail, parse_detail, parse_trip
from bizbus.connectors.feishu.receiver import INSTANCE_ENTITY, FeishuWebhookReceiver
from bizbus.connectors.feishu.settings import FeishuSettings
from bizbus.connectors.feishu.source import CatchUpMemory, CatchUpOptions, read_catch_up
from bizbus.connectors.webhooks import FeishuEventVerifier, ReplayCache, ReplayStore

__all__ = ["UUID_CONFLICT", "FeishuConnector"]

UUID_CONFLICT = 60012  # an instance with this uuid exists, with other content


class FeishuConnector(FeishuClient):
    """The OA connector: ``receiver``, ``fetch_detail``, ``get_user``, ``changes``.

    Implements ``approvals.ApprovalConnector`` (the seam flows use).

    Args:
        settings: Validated ``FeishuSettings`` (``load_settings(FeishuSettings)``).
        transport: An httpx transport (tests pass ``httpx.MockTransport``).
        token: Override the credential source (tests).
        replay: Dedupe store of the receiver; in-memory by default (a worker swaps in the store
            its whole group shares, so a replay to any worker is refused).
        **http: Override ``HttpConnector`` options (``retry``, ``sleep``, ``timeout``, ...).
    """

    callback_deadline_s: ClassVar[float] = 2.5  # Feishu waits 3 s
    dialect: ClassVar[str] = "feishu"

    def __init__(
        self,
        settings: FeishuSettings,
        *,
        transport: Any = None,
        token: TokenProvider | None = None,
        replay: ReplayStore | None = None,
        **http: Any,
    ) -> None:
        provider = token if token is not None else self.tenant_token(
            settings.base_url, settings.app_id, app_secret=settings.app_secret
        )  # fmt: skip
        options: dict[str, Any] = {**settings.http_options(), **http}
        super().__init__(settings.base_url, token=provider, transport=transport, **options)
        self.settings = settings
        verifier = FeishuEventVerifier(
            settings.encrypt_keys(),
            verification_tokens=settings.verification_tokens(),
            tolerance=settings.webhook_tolerance_s,
            replay=replay if replay is not None else ReplayCache(settings.replay_ttl_s),
        )
        self.receiver = FeishuWebhookReceiver(verifier, handlers=settings.claims())
        self._sleep_between_polls: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._catch_up = CatchUpMemory()
        self._forms: dict[str, Any] = {}  # approval code → its definition's form (widgets)

    async def ping(self, approval_code: str | None = None) -> None:
        """One cheap authenticated call (reads the first configured definition)."""
        await super().ping(approval_code or self.settings.followed_codes()[0])

    async def subscribe_all(self) -> list[str]:
        """Subscribe to every claimed definition; returns the codes newly subscribed."""
        return [code for code in self.settings.followed_codes() if await self.subscribe(code)]

    # -- approvals bizbus files ------------------------------------------------------------

    async def create_instance(
        self, approval_code: str, applicant: str, values: Mapping[str, str], *, uuid: str
    ) -> str:
        """File an approval instance once per ``uuid``; returns its instance code.

        ``values`` are text widgets by custom id (or id); the applicant is a Feishu user_id.
        A redelivery with the same ``uuid`` gets the first instance back (Feishu's idempotency);
        60012 (the same uuid with other content, e.g. after a definition edit) means it exists.

        Raises:
            ConfigError: The definition lacks a widget ``values`` names.
            FeishuRejected: Feishu refused (unknown definition or applicant, bad form).
        """
        form = self._forms.get(approval_code)
        if form is None:
            form = (await self.get_approval(approval_code)).get("form")
            self._forms[approval_code] = form
        body = {"approval_code": approval_code, "user_id": applicant,
                "form": fill_form(form, values), "uuid": uuid}  # fmt: skip
        try:
            data = await self.call("POST", f"{APPROVAL_V4}/instances", json=body,
                                   params={"user_id_type": "user_id"}, idempotent=True)  # fmt: skip
        except FeishuRejected as exc:
            if exc.code == UUID_CONFLICT:
                return ""
            raise
        return str(data.get("instance_code") or "")

    async def decision(self, record: SourceRecord) -> tuple[InstanceDetail, Decision]:
        """The detail of an instance record and how it was decided (status, comment)."""
        detail = await self.detail_of(record)
        return detail, decision_of(detail)

    # -- source --------------------------------------------------------------------------

    async def fetch_detail(self, instance_code: str) -> InstanceDetail:
        """Fetch and parse one instance (form, applicant, status, times, tasks).

        Raises:
            FeishuRejected: 1390003 when the instance does not exist.
            SchemaError: The detail cannot be read.
        """
        return parse_detail(await self.get_instance(instance_code))

    async def detail_of(self, record: SourceRecord) -> InstanceDetail:
        """The detail of a record: carried by catch-up records, fetched for callback ones."""
        carried = record.payload.get("detail")
        if isinstance(carried, dict):
            return parse_detail(carried)
        return await self.fetch_detail(record.id)

    def stream_safety_poll_s(self) -> float | None:
        """None: Feishu's events come by callback only."""
        return None

    async def stream_batches(self) -> AsyncGenerator[StreamBatch, None]:
        """Feishu has no event stream bizbus reads: nothing, at once."""
        return
        yield  # pragma: no cover - makes this an (empty) async generator

    def trip_of(self, detail: InstanceDetail) -> TripRequest:
        """Read the trip group of a Feishu travel form."""
        return parse_trip(detail)

    async def directory_user(self, user_id: str) -> Mapping[str, Any]:
        """The contact v3 user of a user_id, as Feishu answers it (name, employee_no, e-mails).

        Raises:
            MappingError: The answer names no user.
        """
        data = await self.call(
            "GET", f"{CONTACT_V3}/users/{quote(user_id, safe='')}",
            params={"user_id_type": "user_id"},
        )  # fmt: skip
        user = data.get("user")
        if not isinstance(user, Mapping):
            raise MappingError(f"oa: the Feishu directory has no user {user_id}")
        return user

    def catch_up_options(self) -> CatchUpOptions:
        """How catch-up polls read, from the settings."""
        s = self.settings
        return CatchUpOptions(
            approval_codes=tuple(s.followed_codes()),
            handlers=s.claims(),
            lookback=timedelta(seconds=s.catchup_lookback_s),
            overlap=timedelta(seconds=s.catchup_overlap_s),
            page_size=s.page_size,
            concurrency=s.detail_concurrency,
            rescan=timedelta(seconds=s.catchup_rescan_s),
        )

    def changes(
        self, entity: str, since: Cursor | None, *, follow: bool = False
    ) -> AsyncGenerator[SourceRecord, None]:
        """Catch up on ``approval_instance`` changes after ``since``, in cursor order.

        One poll to now, then stop (``follow=True``: poll every ``poll_interval_s`` forever).
        Resuming re-reads ``catchup_overlap_s`` before ``since`` (at-least-once); within one
        iterator an instance repeats only when its detail changed. The connector remembers its
        last listing and the instances still open, so after its first pass a pass lists only
        newly filed instances and fetches only those and the open ones, with a full pass every
        ``catchup_rescan_s`` (a revert of a decided instance missed by the callbacks). Commit
        ``record.cursor`` once its event is acked. The cursors share the callback records'
        axis, so either may resume the other.

        Raises:
            SchemaError: ``entity`` is not ``approval_instance``.
        """
        if entity != INSTANCE_ENTITY:
            raise SchemaError(f"feishu: no catch-up feed for {entity!r}, only {INSTANCE_ENTITY!r}")
        options = self.catch_up_options()
        return follow_polls(
            lambda state: read_catch_up(self, state, options=options, memory=self._catch_up),
            PollState.resume(since),
            follow=follow,
            interval=self.settings.poll_interval_s,
            sleep=self._sleep_between_polls,
        )
