"""Runtime settings of the bizbus worker (`BIZBUS_*`), validated at start-up."""

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_datadir() -> Path:
    return Path.home() / ".cache" / "bizbus" / "worker"


class RuntimeSettings(BaseSettings):
    """Where Kafka is and how the worker runs."""

    # An empty variable (as in deploy/.env.example) means "not set": its default applies.
    model_config = SettingsConfigDict(env_prefix="BIZBUS_", extra="ignore", env_ignore_empty=True)

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        description="Kafka bootstrap servers, host:port[,host:port]. `bizbus kafka up` prints one.",
    )
    app_id: str = Field(
        default="bizbus", pattern=r"^[a-z0-9][a-z0-9.-]*$", description="Consumer group / app id."
    )
    datadir: Path = Field(default_factory=_default_datadir, description="faust state folder.")
    table_store: Literal["memory", "rocksdb"] = Field(
        default="memory",
        description="Where the worker keeps its tables: memory (every start re-reads each "
        "table's whole changelog) or rocksdb (kept in the datadir, so a restart reads only "
        "what changed since; needs the `rocksdb` extra and a datadir that outlives the "
        "process, e.g. a StatefulSet volume).",
    )
    web_port: int = Field(default=6066, ge=1, le=65535, description="Worker web server port.")
    web_bind: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address the web server listens on: loopback on a laptop, 0.0.0.0 in a "
        "container (the OA must reach /webhooks/feishu, Odoo in push mode /webhooks/odoo/<token>; "
        "nothing else is served without a token).",
    )
    web_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of bizbus's own views (/bizbus/parked-orders/, readiness "
        "details); unset: those views do not exist and readiness says only ready or not.",
    )
    webhook_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body the web server reads; a longer one gets 413 unread.",
    )
    metrics_public: bool = Field(
        default=True,
        description="Serve /metrics without the web token (Prometheus in the cluster scrapes "
        "it; it holds counts and names, no record data); false: it needs BIZBUS_WEB_TOKEN.",
    )
    log_format: Literal["json", "text"] = Field(
        default="text",
        description="Worker log lines: text (readable; the demo, a laptop) or json (one object "
        "a line with event id, correlation id, flow, topic/partition/offset; the container "
        "images set it).",
    )
    topic_partitions: int = Field(default=4, ge=1, description="Partitions of topics we create.")
    replication_factor: int | None = Field(
        default=None,
        ge=1,
        description="Replication of the topics we create; empty: min(3, brokers), with "
        "min.insync.replicas=2 from 3 copies.",
    )
    trace_index: bool = Field(
        default=True,
        description="Index every published event's hop by correlation id (the "
        "`<prefix><app id>-trace-index` topic) for `bizbus trace`; false saves one small record "
        "per event (`bizbus trace --scan` then reads the topics themselves).",
    )
    dlq_max_replays: int = Field(
        default=3,
        ge=1,
        description="Replays an event may fail (`bizbus dlq replay`) before its next dead "
        "letter goes to the quarantine topic, with its replay history, instead of round again.",
    )
    retry_max_attempts: int = Field(
        default=6,
        ge=1,
        description="Tries of a record whose calls fail while its system answers other calls, "
        "before it is dead-lettered (a system that is down never dead-letters anything).",
    )
    retry_first_delay_s: float = Field(
        default=0.5, gt=0, description="First wait before probing a system that is down."
    )
    auth_retry_delay_s: float = Field(
        default=30.0, gt=0, description="Wait between probes while credentials are rejected."
    )
    stage_max_in_flight: int = Field(
        default=64, ge=1, description="Records one stage handles at once (one per key at most)."
    )
    stage_high_water: int = Field(
        default=1024, ge=1, description="Records one stage holds before it pauses fetching."
    )
    batch_pure_stages: bool = Field(
        default=True, description="Run pure Kafka-to-Kafka stages in the batched loop."
    )
    session_timeout_s: float = Field(
        default=6.0,
        ge=6.0,
        description="Consumer group session timeout: how soon a crashed worker's partitions move.",
    )
    instance_id: str | None = Field(
        default=None,
        description="Static group membership: a restarted worker with the same id takes its "
        "partitions back at once (e.g. the pod name of a StatefulSet).",
    )
    topic_prefix: str = Field(
        default="",
        pattern=r"^([a-z0-9][a-z0-9-]*\.)?$",
        description="Prefix of every topic we use (e.g. `staging.`), to share one cluster.",
    )
    poll_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="Seconds between two polls of a change feed that just found changes (the "
        "fast interval); each empty poll doubles it, up to the system's idle interval.",
    )
    crm_poll_idle_s: float = Field(
        default=120.0,
        gt=0,
        description="Longest interval between two polls of the CRM once idle (all CRM feeds "
        "are read in one Composite call: 720 calls a day).",
    )
    erp_poll_idle_s: float = Field(
        default=600.0,
        gt=0,
        description="Longest interval between two polls of each ERP feed once idle (one call "
        "per feed: 144 a day each).",
    )
    oa_poll_idle_s: float = Field(
        default=600.0,
        gt=0,
        description="Longest interval between two OA catch-up polls once idle (callbacks "
        "carry the changes; the catch-up is the safety net).",
    )
    crm_daily_api_budget: int = Field(
        default=20_000,
        ge=0,
        description="API calls bizbus may spend on the CRM per rolling 24 h (0: no limit). "
        "Polling slows from half of it and stops at it; writes count but are never refused.",
    )
    erp_daily_api_budget: int = Field(
        default=0, ge=0, description="API calls per rolling 24 h on the ERP (0: no limit)."
    )
    oa_daily_api_budget: int = Field(
        default=0, ge=0, description="API calls per rolling 24 h on the OA (0: no limit)."
    )
    poll_partitions: int = Field(
        default=4,
        ge=1,
        description="Partitions of the poll ticks and cursors: how many workers share the "
        "feeds (fixed once the topics exist).",
    )
    sla_order_to_erp_s: float = Field(
        default=900.0,
        ge=0,
        description="Business SLA: seconds from a CRM order's activation to its ERP sales order "
        "before an alert (0: not watched).",
    )
    sla_invoice_to_crm_s: float = Field(
        default=1800.0,
        ge=0,
        description="Business SLA: seconds from a posted ERP invoice to its CRM order showing "
        "Invoiced before an alert (0: not watched).",
    )
    sla_trip_to_hr: bool = Field(
        default=True,
        description="Business SLA: alert when an approved trip has no HR record once its "
        "departure date begins (in `sla_timezone`).",
    )
    sla_timezone: str = Field(
        default="Asia/Shanghai",
        description="IANA time zone in which trip dates begin (the OA's local dates).",
    )
    reconcile_interval_s: float = Field(
        default=21600.0,
        ge=0,
        description="Seconds between the worker's reconciliation runs (one worker of the group "
        "runs them; each reads whole tables of both systems, so keep it hours; 0: off).",
    )
    reconcile_heal: bool = Field(
        default=False,
        description="Scheduled reconciliation sends the corrective commands it finds (as "
        "`bizbus reconcile --heal`); false: it only reports and exports the drift.",
    )
    reconcile_grace_s: float = Field(
        default=600.0,
        ge=0,
        description="Orders changed in the CRM within this many seconds are not reconciled "
        "yet: they may still be on their way to the ERP.",
    )
    flows: str = Field(
        default="travel,customers,orders,fulfilment,catalog,leads,sla,stock",
        description="Comma-separated flows this worker runs.",
    )
    stages: str = Field(
        default="",
        description="Comma-separated stages (agent names; `poll` = the change-feed poller) this "
        "worker runs, e.g. to benchmark one stage; empty: every stage of its flows.",
    )

    @field_validator("sla_timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}; use an IANA name") from None
        return name

    def poll_idle_s(self, system: str) -> float:
        """Return the idle poll interval of `system` (crm, erp or oa)."""
        return float(getattr(self, f"{system}_poll_idle_s"))

    def daily_api_budget(self, system: str) -> int | None:
        """Return the daily API budget of `system` (crm, erp or oa), None when unlimited."""
        return int(getattr(self, f"{system}_daily_api_budget")) or None

    def selected_stages(self) -> frozenset[str] | None:
        """Return the stage names `stages` selects, or None when it selects them all."""
        names = frozenset(name.strip() for name in self.stages.split(",") if name.strip())
        return names or None


class TracingSettings(BaseSettings):
    """Where spans go: the standard OpenTelemetry variables (the OTLP exporter reads them too)."""

    model_config = SettingsConfigDict(
        env_prefix="OTEL_EXPORTER_OTLP_", extra="ignore", env_ignore_empty=True
    )

    endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL (e.g. http://otel-collector:4318); unset with "
        "the next one: spans are made for the trace context and never exported.",
    )
    traces_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP URL for traces only (overrides the base URL)."
    )

    @property
    def exporting(self) -> bool:
        """True when spans are to be exported."""
        return bool(self.endpoint or self.traces_endpoint)
