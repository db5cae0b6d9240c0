"""``SalesforceConnector``: the CRM as a Source (polled feeds) and a Sink (idempotent upserts).

System: Salesforce REST API v60.0 (configurable); auth: OAuth 2.0 client credentials. Limits:
each poll batch, lookup and write is one API call against the org's daily allowance, except
that ``prefetch_changes`` reads the first batch of up to 5 feeds in one Composite call,
``query_several`` runs 5 queries a call and ``create_many``/``update_many`` write 200 records a
call (sObject Collections); with
``compare_before_write`` a write costs one extra GET and an unchanged one costs only that GET.
"""

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import httpx

from bizbus.connectors.auth import TokenProvider
from bizbus.connectors.base import (
    ApplyResult,
    Cursor,
    FeedStates,
    SinkCommand,
    SourceRecord,
)
from bizbus.connectors.errors import ConnectorError
from bizbus.connectors.feeds import follow_polls
from bizbus.connectors.salesforce.client import IdentityClientCredentials, SalesforceClient
from bizbus.connectors.salesforce.collections import SaveResult, create_many, update_many
from bizbus.connectors.salesforce.composite import query_many
from bizbus.connectors.salesforce.objects import spec_for
from bizbus.connectors.salesforce.settings import SalesforceSettings
from bizbus.connectors.salesforce.sink import (
    FlaggedOrders,
    apply_command,
    flag_open_orders_on_price,
    update_record,
)
from bizbus.connectors.salesforce.source import FeedOptions, Prefetched, first_query, read_poll

__all__ = ["FEED_ENTITIES", "SalesforceConnector"]

FEED_ENTITIES = ("Order", "Account", "Product2", "PricebookEntry", "Lead")


class SalesforceConnector(SalesforceClient):
    """The CRM connector flows use: ``changes`` feeds, ``apply`` commands, lookups and queries.

    Args:
        settings: Validated ``SalesforceSettings`` (``load_settings(SalesforceSettings)``).
        transport: An httpx transport (tests pass ``httpx.MockTransport``).
        token: Override the credential source (tests).
        poll_sleep: Async sleep between polls of a followed feed (tests pass a recorder).
        **http: Override ``HttpConnector`` options (``retry``, ``sleep``, ``timeout``, ...).
    """

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        token: TokenProvider | None = None,
        poll_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **http: Any,
    ) -> None:
        provider = token if token is not None else self.token_from_settings(settings)
        options: dict[str, Any] = {**settings.http_options(), **http}
        super().__init__(
            settings.base_url,
            token=provider,
            api_version=settings.api_version,
            client_tag=settings.client_tag,
            transport=transport,
            **options,
        )
        self.settings = settings
        self._poll_sleep = poll_sleep
        self._feeds = FeedStates()
        self._prefetched = Prefetched()

    # -- source --------------------------------------------------------------------------

    def feed_options(self) -> FeedOptions:
        """How feeds are read, from the settings."""
        return FeedOptions(
            overlap=timedelta(seconds=self.settings.poll_overlap_s),
            page_size=self.settings.page_size,
            include_deleted=self.settings.feed_deleted,
            echo_field=self.settings.echo_field,
        )

    def echo_hint(self, row: dict[str, Any]) -> str | None:
        """The client behind a row's last write (``SourceRecord.client``).

        The echo field when configured; else ``client_tag`` when the integration user wrote
        the row (``LastModifiedById``); else None.
        """
        if self.settings.echo_field:
            value = row.get(self.settings.echo_field)
            return value if isinstance(value, str) and value else None
        user = self.integration_user_id
        if user is not None and _same_id(row.get("LastModifiedById"), user):
            return self.client_tag
        return None

    @property
    def integration_user_id(self) -> str | None:
        """The run-as user's id: from the settings, else learned from the token response."""
        if self.settings.integration_user_id:
            return self.settings.integration_user_id
        return self.token.user_id if isinstance(self.token, IdentityClientCredentials) else None

    def changes(
        self, entity: str, since: Cursor | None, *, follow: bool = False
    ) -> AsyncGenerator[SourceRecord, None]:
        """Yield changes of ``entity`` after ``since``, in cursor order, each with its cursor.

        One catch-up pass, then the iterator ends (``follow=True``: poll again every
        ``poll_interval_s`` until closed). Commit ``record.cursor`` once its event is acked;
        cursors never decrease. When ``since`` is the last cursor this connector yielded for
        ``entity``, the remembered polling state is reused, so nothing is repeated from one
        call to the next; any other ``since`` (e.g. after a restart) re-reads
        ``poll_overlap_s`` before it, so late commits are not lost (at-least-once).
        """
        spec, options = spec_for(entity), self.feed_options()
        return follow_polls(
            lambda state: read_poll(
                self, spec, state, options=options, echo=self.echo_hint, prefetched=self._prefetched
            ),
            self._feeds.resume(entity, since),
            follow=follow,
            interval=self.settings.poll_interval_s,
            sleep=self._poll_sleep,
            remember=partial(self._feeds.remember, entity),
        )

    async def prefetch_changes(self, since: Mapping[str, Cursor | None]) -> None:
        """Read the first batch of each entity's next ``changes`` pass in one Composite call.

        ``since`` maps entities to the cursors their next ``changes`` call will pass. Each
        answer (or that query's own error) is kept for that call; a failed Composite call is
        kept as every entity's error, so the passes fail without spending more calls.
        """
        options = self.feed_options()
        queries = {
            first_query(spec_for(entity), self._feeds.resume(entity, cursor), options): entity
            for entity, cursor in since.items()
        }
        try:
            answers: list[Any] = await query_many(
                self, [(soql, options.include_deleted) for soql in queries]
            )
        except ConnectorError as error:
            answers = [error] * len(queries)
        self._prefetched.keep(dict(zip(queries, answers, strict=True)))

    # -- sink ----------------------------------------------------------------------------

    async def apply(self, command: SinkCommand) -> ApplyResult:
        """Upsert ``command.payload`` into ``command.entity`` by ``command.external_key``.

        ``external_key`` is a value of the object's key field (Account ``ErpCustomerRef__c``,
        Product2 ``ErpProductRef__c``, PricebookEntry ``ErpPriceRef__c``, Order
        ``BizbusKey__c``, OrderItem ``ErpLineRef__c``) or ``Field=value`` (``Id=801...`` to
        update by Salesforce id, ``ErpOrderRef__c=SO-1`` for another key field).
        """
        return await apply_command(self, command, compare=self.settings.compare_before_write)

    async def update_by_id(self, obj: str, record_id: str, fields: dict[str, Any]) -> ApplyResult:
        """Update one record by its Salesforce id (UNCHANGED when nothing differs)."""
        return await update_record(
            self, obj, record_id, fields, compare=self.settings.compare_before_write
        )

    async def create_many(
        self, records: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[SaveResult]:
        """Create ``(object, fields)`` records in sObject Collections calls of 200."""
        return await create_many(self, self.prefix, records)

    async def update_many(
        self, records: Sequence[tuple[str, str, Mapping[str, Any]]]
    ) -> list[SaveResult]:
        """Update ``(object, id, fields)`` records in sObject Collections calls of 200."""
        return await update_many(self, self.prefix, records)

    async def query_several(self, queries: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Run SOQL queries in Composite calls of 5 (one API call each); all rows of each.

        Raises:
            ConnectorError: A query failed (or the call did).
        """
        rows: list[list[dict[str, Any]]] = []
        for answer in await query_many(self, [(soql, False) for soql in queries]):
            if isinstance(answer, ConnectorError):
                raise answer
            rows.append([row async for page in self.pages_from(answer) for row in page])
        return rows

    async def flag_open_orders_on_price(
        self,
        product2_id: str,
        new_price: Decimal | float | int,
        *,
        open_statuses: Sequence[str] = ("Draft",),
        pricebook2_id: str | None = None,
    ) -> FlaggedOrders:
        """Set ``PriceReviewNeeded__c`` on open orders (and lines) priced unlike ``new_price``."""
        return await flag_open_orders_on_price(
            self,
            product2_id,
            new_price,
            open_statuses=open_statuses,
            pricebook2_id=pricebook2_id,
        )


def _same_id(value: object, user_id: str) -> bool:
    # 15- and 18-character forms of one id share their first 15 characters.
    return isinstance(value, str) and len(value) >= 15 and value[:15] == user_id[:15]
