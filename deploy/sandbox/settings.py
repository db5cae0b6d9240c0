"""Environment settings every sandbox server shares (`BIZBUS_SANDBOX_<SYSTEM>_*`)."""

import dataclasses

from pydantic_settings import BaseSettings

from bizbus.deploy.sandbox.app import SandboxConfig
from bizbus.deploy.sandbox.faults import FaultPlan


class SandboxSettings(BaseSettings):
    """Base of each system's settings: faults to start with (a FaultPlan as JSON)."""

    faults: FaultPlan | None = None

    def apply_faults(self, config: SandboxConfig) -> SandboxConfig:
        """Return `config` with the environment's faults, unless the caller already set some."""
        if self.faults is None or config.faults != FaultPlan():
            return config
        return dataclasses.replace(config, faults=self.faults)
