"""Logs: a real `hotline serve` writes one JSON object per line with the request's context, and
nothing secret or personal, whatever traffic it served (sign-in, websockets, API keys, webhooks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from dispatch import hospitals
from kernel import accounts
from kernel.db import unit_of_work
from kernel.logs import scrub
from tests.helpers import (
    PASSWORD,
    ROOT,
    arrive,
    auth,
    child_env,
    free_port,
    make_user,
    seed_branches,
    signed_post,
    token_for,
    wait_for,
    ws_ticket,
)

PHONE = "0909876543"


def test_scrub_masks_phones_and_redacts_secrets():
    line = (
        "GET /ws/console?token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln caller 0909876543 "
        '+84909876543 "password": "hunter2hunter2" Authorization: Bearer abc.def '
        "X-API-Key: hk_0a1b2c3d4e5f_s3cr3t-Value id 20261123140000123"
    )
    out = scrub(line)
    for secret in ("eyJ", "0909876543", "84909876543", "hunter2", "abc.def", "s3cr3t"):
        assert secret not in out
    assert "090*****43" in out
    assert "20261123140000123" in out  # a long number that is not a phone stays


@pytest.fixture
def served(tmp_path: Path) -> Any:
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hotline.cli", "serve", "--port", str(port)],
            env=child_env({"HOTLINE_RUN_SWEEPER": "true"}),
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert proc.poll() is None, log_path.read_text()
            try:
                return httpx.get(url + "/healthz", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=60, every=0.1, what="hotline serve to start")
        try:
            yield url, log_path
        finally:
            proc.terminate()
            proc.wait(30)


def test_a_live_servers_logs_are_json_with_context_and_no_secret(served):
    url, log_path = served
    seed_branches()
    make_user("logdoc", "doctor", branches={"3": 1})
    make_user("logadmin", "admin")
    with unit_of_work() as s:
        h = hospitals.create_hospital(s, name="BV log", tier=3, lat=10.7, lon=106.7, actor="t")
        hospital_id = h.id
        _, api_key = accounts.create_api_key(s, hospital_id=hospital_id, name="HIS")

    secrets: list[str] = [PASSWORD, api_key, PHONE]
    with httpx.Client(base_url=url, timeout=30) as client:
        token = token_for(client, "logdoc")  # sign-in: the password in a form body
        admin_token = token_for(client, "logadmin")
        secrets += [token, admin_token]
        wrong = client.post(
            "/api/v1/auth/token", data={"username": "logdoc", "password": "wrong-" + PASSWORD}
        )
        assert wrong.status_code == 401
        # A call through the signed webhook, from a caller's number.
        res = arrive(client, "log-call-1", caller=PHONE, digits="3")
        assert res.status_code == 200, res.text
        call_id = res.json()["call_id"]
        assert signed_post(client, "/api/v1/telephony/calls/log-call-1/hangup", {}).is_success
        # A gateway whose call ids are the caller's number: the path carries it.
        assert signed_post(client, f"/api/v1/telephony/calls/{PHONE}/hangup", {}).is_success
        # The call read by id with a bearer token, and a token in a query string.
        assert client.get(f"/api/v1/calls/{call_id}", headers=auth(admin_token)).is_success
        client.get(f"/api/v1/calls/{call_id}?token={token}")
        # The hospital system's API key.
        beds = client.get(f"/api/v1/hospitals/{hospital_id}/beds", headers={"X-API-Key": api_key})
        assert beds.status_code == 200, beds.text
        request_id = "trace-me-123"
        traced = client.get("/healthz", headers={"X-Request-ID": request_id})
        assert traced.headers["x-request-id"] == request_id

    # A console websocket opened with a single-use ticket (the ticket rides in the URL),
    # and an old client that still puts its bearer token there (refused, never logged).
    ws_base = url.replace("http", "ws") + "/ws/console"
    with httpx.Client(base_url=url, timeout=30) as client:
        ticket = ws_ticket(client, token)
    secrets.append(ticket)
    with ws_client.connect(f"{ws_base}?ticket={ticket}", open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"
    with pytest.raises(InvalidStatus):
        ws_client.connect(f"{ws_base}?token={token}", open_timeout=30)

    def logged() -> list[dict[str, Any]]:
        lines = [ln for ln in log_path.read_text().splitlines() if ln.strip()]
        return [json.loads(ln) for ln in lines]  # every line is one JSON object

    def websockets_logged() -> bool:
        statuses = {e.get("status") for e in logged() if e.get("route") == "/ws/console"}
        return {101, 403} <= statuses

    wait_for(websockets_logged, timeout=30, what="both websockets' access lines")
    entries = logged()
    text = log_path.read_text()
    for secret in secrets:
        assert secret not in text, f"a secret reached the log: {secret[:6]}..."
    assert "090*****43" in text  # the number in the path and provider_call_id, masked

    for e in entries:
        assert {"time", "level", "message"} <= set(e), e
    access = [e for e in entries if e.get("logger") == "hotline.access"]
    assert access, text
    for e in access:
        assert {"request_id", "route", "status", "duration_ms"} <= set(e), e
    by_call = [e for e in access if e.get("call_id") == call_id]
    assert {e["route"] for e in by_call} == {"/api/v1/calls/{call_id}"}
    assert any(e.get("provider_call_id") == "log-call-1" for e in access)
    assert any(e["request_id"] == request_id for e in access)
    assert any(e["route"] == "/ws/console" and e["status"] == 403 for e in access)
