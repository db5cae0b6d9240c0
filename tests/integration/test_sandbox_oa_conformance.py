"""Sandbox OA over real sockets with lark-oapi unchanged.

Its approval client calls the OA; its event dispatcher decrypts and verifies what the OA pushes.
"""

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import lark_oapi as lark
import pytest
from lark_oapi.api.approval.v4 import (
    ApproveTaskRequest,
    CreateInstanceRequest,
    GetApprovalRequest,
    GetInstanceRequest,
    InstanceCreate,
    ListInstanceRequest,
    SubscribeApprovalRequest,
    TaskApprove,
)
from lark_oapi.core.model import RawRequest
from lark_oapi.event.custom import CustomizedEvent

from bizbus.deploy.sandbox.oa.seed import TRAVEL_APPROVAL_CODE
from bizbus.deploy.sandbox.registry import SYSTEMS

CREDENTIALS = SYSTEMS["oa"].credentials
APPLICANT = "f8ca557e"  # 张伟
TRIP_EVENT = "approval.instance.trip_group_update_v4"


class Receiver:
    """A Feishu app's request URL on loopback: lark-oapi's dispatcher handles every request."""

    def __init__(self, *, fail_first: int = 0) -> None:
        self.events: list[CustomizedEvent] = []
        self.requests = 0
        self.fail_first = fail_first
        self._lock = threading.Lock()
        dispatcher = (
            lark.EventDispatcherHandler.builder(
                CREDENTIALS["encrypt_key"], CREDENTIALS["verification_token"]
            )
            .register_p1_customized_event("approval_instance", self._record)
            .register_p2_customized_event(TRIP_EVENT, self._record)
            .build()
        )
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                raw = RawRequest()
                raw.uri, raw.body = self.path, body
                raw.headers = {
                    "-".join(p.capitalize() for p in k.split("-")): v
                    for k, v in self.headers.items()
                }
                with receiver._lock:  # set after registration, so the challenge never fails
                    receiver.requests += 1
                    fail = receiver.fail_first > 0
                    if fail:
                        receiver.fail_first -= 1
                if fail:
                    status, content = 500, b'{"msg":"temporarily down"}'
                else:
                    answer = dispatcher.do(raw)
                    status, content = answer.status_code, answer.content
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/feishu/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _record(self, event: CustomizedEvent) -> None:
        with self._lock:
            self.events.append(event)

    def wait_for(self, match: Callable[[CustomizedEvent], bool], timeout_s: float = 10) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                found = [event for event in self.events if match(event)]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no matching event within {timeout_s} s; got {self.events}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def status_of(instance_code: str, status: str) -> Callable[[CustomizedEvent], bool]:
    def match(event: CustomizedEvent) -> bool:
        body = event.event or {}
        return bool(body.get("instance_code") == instance_code and body.get("status") == status)

    return match


@pytest.fixture(scope="module")
def client(oa_url: str) -> lark.Client:
    return (
        lark.Client.builder()
        .app_id(CREDENTIALS["app_id"])
        .app_secret(CREDENTIALS["app_secret"])
        .domain(oa_url)
        .timeout(10)
        .build()
    )


@pytest.fixture(scope="module")
def subscribed(client: lark.Client) -> None:
    request = SubscribeApprovalRequest.builder().approval_code(TRAVEL_APPROVAL_CODE).build()
    response = client.approval.v4.approval.subscribe(request)
    assert response.code in (0, 1390007), response.msg


@pytest.fixture
def control(oa_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=oa_url, timeout=10, trust_env=False) as http:
        http.post("/_sandbox/delivery", json={"retry_base_s": 0.2, "max_attempts": 5,
                                             "challenge_timeout_s": 5})  # fmt: skip
        yield http
        http.delete("/_sandbox/callbacks")
        http.delete("/_sandbox/faults")


@pytest.fixture
def receiver(control: httpx.Client, subscribed: None) -> Iterator[Receiver]:
    receiver = Receiver()
    registered = control.post(
        "/_sandbox/callbacks", json={"url": receiver.url, "approval_code": TRAVEL_APPROVAL_CODE}
    )
    assert registered.status_code == 201, registered.text
    yield receiver
    receiver.close()


def trip_form(destination: str = "上海") -> str:
    widgets = [
        {"id": "widget_trip", "type": "tripGroup", "value": {"schedule": [
            {"start": "2024-09-24T08:00:00+08:00", "end": "2024-09-27T20:00:00+08:00",
             "departure": "苏州", "destination": destination, "transportation": "高铁",
             "oneRound": "往返"},
        ], "reason": "中国国际工业博览会"}},
        {"id": "widget_purpose", "type": "textarea", "value": "展会接待客户,收集名片"},
    ]  # fmt: skip
    return json.dumps(widgets, ensure_ascii=False)


def create(client: lark.Client, key: str, form: str | None = None) -> Any:
    body = (
        InstanceCreate.builder()
        .approval_code(TRAVEL_APPROVAL_CODE)
        .user_id(APPLICANT)
        .form(form or trip_form())
        .uuid(key)
        .build()
    )
    return client.approval.v4.instance.create(
        CreateInstanceRequest.builder().request_body(body).build()
    )


def approve(client: lark.Client, instance_code: str) -> Any:
    detail = client.approval.v4.instance.get(
        GetInstanceRequest.builder().instance_id(instance_code).build()
    )
    task = detail.data.task_list[0]
    body = (
        TaskApprove.builder()
        .approval_code(TRAVEL_APPROVAL_CODE)
        .instance_code(instance_code)
        .user_id(task.user_id)
        .task_id(task.id)
        .comment("同意,注意差旅标准")
        .build()
    )
    request = ApproveTaskRequest.builder().user_id_type("user_id").request_body(body).build()
    return client.approval.v4.task.approve(request)


def test_lark_client_reads_the_travel_definition(client: lark.Client) -> None:
    response = client.approval.v4.approval.get(
        GetApprovalRequest.builder().approval_code(TRAVEL_APPROVAL_CODE).build()
    )
    assert response.success(), response.msg
    assert response.data.approval_name == "出差申请"
    assert [w["type"] for w in json.loads(response.data.form)] == ["tripGroup", "textarea"]


def test_token_endpoint_checks_the_app_secret(oa_url: str) -> None:
    url = f"{oa_url}/open-apis/auth/v3/tenant_access_token/internal"
    good = httpx.post(url, json={"app_id": CREDENTIALS["app_id"],
                                 "app_secret": CREDENTIALS["app_secret"]})  # fmt: skip
    assert good.json()["code"] == 0 and good.json()["tenant_access_token"].startswith("t-")
    # A fresh token lives 7200 s; the sandbox hands out the same one until < 30 min remain.
    assert 1800 < good.json()["expire"] <= 7200
    bad = httpx.post(url, json={"app_id": CREDENTIALS["app_id"], "app_secret": "guess"})
    assert bad.status_code == 400 and bad.json()["code"] == 10014
    anonymous = httpx.get(f"{oa_url}/open-apis/approval/v4/approvals/{TRAVEL_APPROVAL_CODE}")
    assert anonymous.json()["code"] == 99991661


def test_create_get_list_and_uuid_idempotency(client: lark.Client) -> None:
    key = str(uuid.uuid4())
    started = int(time.time() * 1000) - 1000
    first = create(client, key)
    assert first.success(), first.msg
    code = first.data.instance_code
    assert create(client, key).data.instance_code == code
    conflict = create(client, key, trip_form(destination="深圳"))
    assert conflict.code == 60012 and conflict.raw.status_code == 400

    detail = client.approval.v4.instance.get(GetInstanceRequest.builder().instance_id(code).build())
    assert detail.success()
    assert detail.data.status == "PENDING"
    assert (detail.data.uuid, detail.data.user_id) == (key, APPLICANT)
    assert json.loads(detail.data.form)[0]["value"]["schedule"][0]["destination"] == "上海"
    assert int(detail.data.start_time) >= started

    listed = client.approval.v4.instance.list(
        ListInstanceRequest.builder().approval_code(TRAVEL_APPROVAL_CODE)
        .start_time(started).end_time(int(time.time() * 1000) + 1000).page_size(100).build()
    )  # fmt: skip
    assert listed.success() and code in listed.data.instance_code_list

    missing = client.approval.v4.instance.get(
        GetInstanceRequest.builder().instance_id("00000000-0000-0000-0000-000000000000").build()
    )
    assert missing.code == 1390003


def test_subscribing_again_is_refused(client: lark.Client, subscribed: None) -> None:
    request = SubscribeApprovalRequest.builder().approval_code(TRAVEL_APPROVAL_CODE).build()
    assert client.approval.v4.approval.subscribe(request).code == 1390007


def test_approval_pushes_encrypted_signed_status_and_trip_events(
    client: lark.Client, receiver: Receiver, control: httpx.Client
) -> None:
    key = str(uuid.uuid4())
    code = create(client, key).data.instance_code
    pending = receiver.wait_for(status_of(code, "PENDING"))
    assert pending.uuid and pending.token == CREDENTIALS["verification_token"]
    assert pending.event["uuid"] == key

    assert approve(client, code).success()
    approved = receiver.wait_for(status_of(code, "APPROVED"))
    assert approved.event["approval_code"] == TRAVEL_APPROVAL_CODE
    trip = receiver.wait_for(lambda e: e.header is not None and e.event["instance_code"] == code)
    assert trip.header.event_type == TRIP_EVENT and trip.schema == "2.0"
    schedule = trip.event["schedules"][0]
    assert (schedule["departure"], schedule["destination"], schedule["trip_type"]) == (
        "苏州", "上海", "往返",
    )  # fmt: skip
    assert trip.event["start_user"]["id"]["user_id"] == APPLICANT

    effects = control.get("/_sandbox/effects", params={"object": "approval_instance"}).json()
    mine = [e for e in effects["effects"] if e["record_id"] == code]
    assert [(e["action"], e["key"]) for e in mine] == [("create", key), ("approve", key)]


def test_callback_must_echo_the_challenge(control: httpx.Client, subscribed: None) -> None:
    refused = control.post("/_sandbox/callbacks", json={"url": "http://127.0.0.1:9/nothing"})
    assert refused.status_code == 400
    assert control.get("/_sandbox/callbacks").json()["callbacks"] == []


def test_failing_callback_gets_the_event_again_with_backoff(
    client: lark.Client, receiver: Receiver, control: httpx.Client
) -> None:
    receiver.fail_first = 2
    code = create(client, str(uuid.uuid4())).data.instance_code
    receiver.wait_for(status_of(code, "PENDING"))
    [delivery] = control.get("/_sandbox/deliveries", params={"instance_code": code}).json()[
        "deliveries"
    ]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    log = delivery["attempt_log"]
    assert [a["http_status"] for a in log] == [500, 500, 200]
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(log)]
    assert gaps[0] >= 0.15 and gaps[1] >= 0.3  # 0.2 s then 0.4 s


def test_injected_faults_are_feishu_shaped(client: lark.Client, control: httpx.Client) -> None:
    control.post("/_sandbox/faults", json={"script": [503, 429], "retry_after_s": 2})
    request = GetApprovalRequest.builder().approval_code(TRAVEL_APPROVAL_CODE).build()
    unavailable = client.approval.v4.approval.get(request)
    assert unavailable.raw.status_code == 503 and unavailable.code == 1395001
    limited = client.approval.v4.approval.get(request)
    assert limited.raw.status_code == 429 and limited.code == 99991400
    assert limited.raw.headers["retry-after"] == "2"
    assert client.approval.v4.approval.get(request).success()
