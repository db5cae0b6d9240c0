"""Sandbox CRM speaking the Salesforce REST API dialect (v60.0; any vNN.0 path is accepted).

OAuth 2.0 client credentials (or username-password) at `/services/oauth2/token`; SOQL subset,
sObject CRUD and upsert by External ID; SQLite storage; effects log and faults via `/_sandbox/*`.
Faults may also come from `BIZBUS_SANDBOX_CRM_FAULTS` (a FaultPlan as JSON). See README.md.
"""

from pydantic_settings import SettingsConfigDict
from starlette.types import ASGIApp

from bizbus.deploy.sandbox.app import SandboxConfig, SandboxContext, build_app
from bizbus.deploy.sandbox.clock import SandboxClock
from bizbus.deploy.sandbox.crm.errors import fault_body
from bizbus.deploy.sandbox.crm.records import RecordStore, create_schema
from bizbus.deploy.sandbox.crm.routes import CrmApi
from bizbus.deploy.sandbox.crm.seed import seed
from bizbus.deploy.sandbox.settings import SandboxSettings
from bizbus.deploy.sandbox.store import SandboxStore

__all__ = ["CrmSandboxSettings", "create_app"]


class CrmSandboxSettings(SandboxSettings):
    """Environment settings of the sandbox CRM process."""

    model_config = SettingsConfigDict(env_prefix="BIZBUS_SANDBOX_CRM_")


def create_app(config: SandboxConfig) -> ASGIApp:
    """Return the sandbox CRM ASGI app over `config.db_path` (seeded when empty)."""
    store = SandboxStore(config.db_path)
    create_schema(store)
    clock = SandboxClock(manual=config.manual_clock)
    records = RecordStore(store)
    if config.seed and not store.query('SELECT 1 FROM "User" LIMIT 1'):
        with store.transaction():
            seed(records, clock.now())
    config = CrmSandboxSettings().apply_faults(config)
    ctx = SandboxContext("crm", store, clock)
    return build_app(ctx, CrmApi(ctx, records).routes(), config, fault_body=fault_body)
