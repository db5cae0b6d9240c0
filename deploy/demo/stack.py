"""Bring up everything the demo needs on loopback, and take it all down again.

A fresh single-node Kafka (from the Maven jars), the three sandbox systems with fresh seeded
databases, and one bizbus worker wired to them; the OA pushes its events to the worker's
webhook, the CRM its changes (Change Data Capture) and the ERP its hints (Odoo automation
rules posting to `/webhooks/odoo/<token>`). `stop()` ends every process it started, whatever
happened.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bizbus.deploy.demo.oa_desks import DESKS, OaChoice
from bizbus.deploy.demo.worker import WorkerProcess
from bizbus.deploy.kafka import KafkaCluster, KafkaRuntimeSettings, start_cluster, stop_cluster
from bizbus.deploy.kafka.cluster import free_ports
from bizbus.deploy.sandbox.erp_push import add_webhook_rules, new_token, push_env
from bizbus.deploy.sandbox.runner import SandboxStack, start_sandbox, stop_sandbox
from bizbus.deploy.sandbox.wiring import connector_env
from bizbus.flows.personal import throwaway_key
from bizbus.flows.shared import ODOO_WEBHOOK_PATH

Progress = Callable[[str], None]


@dataclass
class DemoStack:
    """The running parts of one demo."""

    run_dir: Path
    cluster: KafkaCluster | None = None
    sandboxes: SandboxStack | None = None
    worker: WorkerProcess | None = None
    web_port: int = field(default_factory=lambda: free_ports(1)[0])
    erp_hook: str = ""  # the worker's Odoo webhook URL, token included (once started)
    oa: OaChoice = "feishu"  # which OA product the sandboxes play

    @property
    def urls(self) -> dict[str, str]:
        """Return the sandbox base URLs by system."""
        return self.sandboxes.urls if self.sandboxes else {}

    @property
    def worker_url(self) -> str:
        """Return the worker's web server URL."""
        return f"http://127.0.0.1:{self.web_port}"

    def start(self, progress: Progress, *, default_ports: bool = False) -> None:
        """Start Kafka, the sandboxes and the worker, and connect the OA's webhook."""
        progress("starting Kafka (first run downloads it from Maven Central)")
        self.cluster = start_cluster(
            KafkaRuntimeSettings(), run_dir=self.run_dir / "kafka", progress=progress
        )
        progress("starting the sandbox CRM, ERP and OA")
        self.sandboxes = start_sandbox(
            ["crm", "erp", DESKS[self.oa].system],
            run_dir=self.run_dir / "sandbox",
            default_ports=default_ports,
            # The CRM pushes its changes (Pub/Sub API); a fresh subscription's first answer
            # starts the worker's catch-up poll, so keepalives come every second, not 270 s.
            env={"BIZBUS_SANDBOX_OA_DELIVERY": '{"retry_base_s": 0.5}',
                 "BIZBUS_SANDBOX_DINGTALK_DELIVERY": '{"retry_base_s": 0.5}',
                 "BIZBUS_SANDBOX_CRM_PUBSUB_KEEPALIVE_S": "1"},
        )  # fmt: skip
        # The ERP posts a hint on every save of a model bizbus polls; set up before the worker
        # starts, whose first poll of each feed covers what came before.
        progress("connecting the ERP's webhook automation rules to the worker")
        token = new_token()
        add_webhook_rules(self.urls["erp"], self.worker_url, token)
        self.erp_hook = f"{self.worker_url}{ODOO_WEBHOOK_PATH}/{token}"
        progress("starting the bizbus worker")
        desk = DESKS[self.oa]
        env = {
            **os.environ,
            **connector_env(self.urls, self.sandboxes.grpc_addresses),
            "BIZBUS_KAFKA_BOOTSTRAP": self.cluster.bootstrap,
            "BIZBUS_APP_ID": "bizbus-demo",
            "BIZBUS_DATADIR": str(self.run_dir / "worker"),
            "BIZBUS_WEB_PORT": str(self.web_port),
            "BIZBUS_POLL_INTERVAL_S": "0.5",
            # The story is played back to back: idle polls stay close (see the README's budget).
            **{f"BIZBUS_{system}_POLL_IDLE_S": "1.0" for system in ("CRM", "ERP", "OA")},
            **throwaway_key("demo")[1],  # the demo's data lives one run, and so does its key
            **desk.worker_env(),
            **push_env(token),
        }
        self.worker = WorkerProcess(env, self.run_dir / "worker.log")
        self.worker.start()
        progress("connecting the OA's event push to the worker")
        response = httpx.post(
            f"{self.urls[desk.system]}/_sandbox/callbacks",
            json={"url": self.worker_url + desk.webhook_path},
            timeout=10,
        )
        if not response.is_success:
            raise RuntimeError(f"the OA could not verify the worker's webhook: {response.text}")

    def stop(self) -> None:
        """Stop everything that was started (worker first, so it commits its work)."""
        if self.worker is not None:
            self.worker.stop()
        if self.sandboxes is not None:
            stop_sandbox(self.sandboxes)
        if self.cluster is not None:
            stop_cluster(self.cluster)
