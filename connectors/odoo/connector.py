"""``OdooConnector``: the ERP as a Source (polled ``write_date`` feeds) and a Sink (upserts).

System: Odoo 14-19 external API over JSON-RPC (default) or JSON-2 (19+); auth: the integration
user's API key. Limits: one HTTP call per feed page, lookup, search, write or action; an
unchanged apply costs one ``search_read``, a write two (see ``sink``).
"""

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

from bizbus.connectors.base import (
    ApplyResult,
    Cursor,
    FeedStates,
    SinkCommand,
    SourceRecord,
)
from bizbus.connectors.feeds import follow_polls
from bizbus.connectors.odoo.models import spec_for
from bizbus.connectors.odoo.rpc import OdooRpc
from bizbus.connectors.odoo.settings import OdooSettings
from bizbus.connectors.odoo.sink import Lookups, apply_command
from bizbus.connectors.odoo.source import FeedOptions, read_poll

__all__ = ["FEED_MODELS", "OdooConnector"]

FEED_MODELS = ("sale.order", "mrp.production", "stock.picking", "account.move",
               "product.template", "product.product", "product.pricelist.item", "res.partner",
               "hr.leave", "stock.quant")  # fmt: skip


class OdooConnector(OdooRpc):
    """The ERP connector flows use: ``changes`` feeds, ``apply`` commands, ``execute`` calls.

    Safe to share between concurrent tasks: one pooled client, one uid lookup.

    Args:
        settings: Validated ``OdooSettings`` (``load_settings(OdooSettings)``).
        transport: An httpx transport (tests pass ``httpx.MockTransport``).
        **http: Override ``HttpConnector`` options (``retry``, ``sleep``, ``timeout``, ...).
    """

    def __init__(self, settings: OdooSettings, *, transport: Any = None, **http: Any) -> None:
        options: dict[str, Any] = {**settings.http_options(), **http}
        super().__init__(
            settings.base_url,
            settings.db,
            login=settings.login,
            secret=settings.secret(),
            protocol=settings.protocol,
            uid=settings.uid,
            transport=transport,
            **options,
        )
        self.settings = settings
        self.lookups = Lookups(self, size=settings.lookup_cache_size)
        # The state after the last poll of each model: resuming from its own last cursor
        # reuses it, so a pass per call (follow=False) does not re-emit the overlap window.
        self._feeds = FeedStates()
        self._sleep_between_polls: Callable[[float], Awaitable[None]] = asyncio.sleep

    # -- source --------------------------------------------------------------------------

    def feed_options(self) -> FeedOptions:
        """How feeds are read, from the settings."""
        return FeedOptions(
            overlap=timedelta(seconds=self.settings.poll_overlap_s),
            page_size=self.settings.page_size,
        )

    def changes(
        self, entity: str, since: Cursor | None, *, follow: bool = True
    ) -> AsyncGenerator[SourceRecord, None]:
        """Yield changes of ``entity`` after ``since``, in cursor order, each with its cursor.

        Polls every ``poll_interval_s`` forever (``follow=False``: stop once caught up).
        When ``since`` is the last cursor this connector yielded for ``entity``, the remembered
        polling state is reused, so nothing is repeated from one call to the next; any other
        ``since`` (e.g. after a restart) re-reads ``poll_overlap_s`` before it (at-least-once).
        Commit ``record.cursor`` once its event is acked.
        ``record.origin`` is the ``write_uid``; compare it with ``await uid()`` to spot echoes.
        """
        spec, options = spec_for(entity), self.feed_options()
        return follow_polls(
            lambda state: read_poll(self, spec, state, options=options),
            self._feeds.resume(entity, since),
            follow=follow,
            interval=self.settings.poll_interval_s,
            sleep=self._sleep_between_polls,
            remember=partial(self._feeds.remember, entity),
        )

    # -- sink ----------------------------------------------------------------------------

    async def apply(self, command: SinkCommand) -> ApplyResult:
        """Find ``command.entity`` by its external reference, then create or write it.

        ``external_key`` is the value of the model's reference field: ``res.partner`` ``ref``,
        ``product.product``/``product.template`` ``default_code``, ``sale.order``
        ``client_order_ref``, ``hr.leave`` ``x_external_ref``. See ``connectors.odoo.sink``
        for payload shorthands (``partner_ref``, ``product_default_code``, ``employee_barcode``)
        and the ``confirm``/``state`` actions. Safe to call concurrently for different keys.
        """
        return await apply_command(
            self, self.lookups, command, trip_type=self.settings.trip_leave_type
        )
