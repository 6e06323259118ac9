"""/metrics against real processes: several API workers add up, a real RQ worker's scheduler and
sweeps show, open websockets are counted, and admissions land in their histogram."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import httpx

from dispatch import jobs
from tests.helpers import (
    ROOT,
    LiveWorker,
    MetricSamples,
    account_headers,
    child_env,
    free_port,
    make_hospital,
    make_user,
    metric,
    new_request,
    parse_metrics,
    seed_branches,
    token_for,
    wait_for,
    ws_ticket,
)


def test_requests_served_by_several_api_processes_add_up_in_any_scrape(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    files = tmp_path / "prometheus"
    files.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hotline.cli", "serve", "--port", str(port), "--workers", "2"],
        env=child_env({"HOTLINE_RUN_SWEEPER": "false", "PROMETHEUS_MULTIPROC_DIR": str(files)}),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def healthy() -> bool:
            assert proc.poll() is None, "hotline serve exited"
            try:
                return httpx.get(url + "/healthz", timeout=0.5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, timeout=90, every=0.2, what="two API workers to start")
        sent = 0

        def both_workers_served() -> bool:
            nonlocal sent
            # A fresh connection each time, so the kernel hands them to either worker.
            assert httpx.get(url + "/api/v1/calls/nobody", timeout=30).status_code == 401
            sent += 1
            return len(list(files.glob("counter_*.db"))) >= 2 and sent >= 20

        wait_for(both_workers_served, timeout=120, every=0, what="both workers to serve")
        labels = {"method": "GET", "route": "/api/v1/calls/{call_id}", "status": "401"}
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(6):  # whichever worker answers the scrape, the total is the same
                samples = parse_metrics(client.get("/metrics").text)
                assert metric(samples, "hotline_http_requests_total", **labels) == sent
                count = metric(samples, "hotline_http_request_duration_seconds_count", **labels)
                assert count == sent
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_a_real_workers_scheduler_and_sweeps_show_and_its_absence_too(client):
    def scrape() -> MetricSamples:
        return parse_metrics(client.get("/metrics").text)

    assert metric(scrape(), "hotline_rq_scheduler_up", queue="dispatch") == 0
    worker = LiveWorker().start()
    try:
        up = wait_for(
            lambda: (
                (s := scrape())
                and metric(s, "hotline_rq_scheduler_up", queue="dispatch") == 1
                and metric(s, "hotline_rq_workers") >= 1
                and s
            ),
            timeout=120,
            every=0.5,
            what="the worker's scheduler to hold its lock",
        )
        assert metric(up, "hotline_rq_scheduler_up", queue="maintenance") == 1
        ran = wait_for(
            lambda: metric(
                scrape(), "hotline_sweep_last_run_timestamp_seconds", sweep="dispatch_maintenance"
            ),
            timeout=60,
            every=0.5,
            what="dispatch maintenance to run",
        )
        assert ran > 0
    finally:
        worker.stop()
    gone = scrape()
    assert metric(gone, "hotline_rq_scheduler_up", queue="dispatch") == 0


def test_open_websockets_are_counted_and_admissions_observed(client):
    seed_branches()
    make_user("wsdoc", "doctor", branches={"3": 1})
    token = token_for(client, "wsdoc")

    def open_consoles() -> float:
        samples = parse_metrics(client.get("/metrics").text)
        return metric(samples, "hotline_websockets_connected", route="/ws/console")

    assert open_consoles() == 0
    with client.websocket_connect(f"/ws/console?ticket={ws_ticket(client, token)}") as ws:
        assert ws.receive_json()["type"] == "hello"
        assert open_consoles() == 1
    wait_for(lambda: open_consoles() == 0, timeout=30, what="the console to be counted closed")

    hospital = make_hospital(beds={"icu": (2, 0)})
    staff: dict[str, Any] = account_headers("wsstaff", "hospital", hospital_id=hospital)
    rid = new_request("p-admit")
    assert jobs.match_request(rid) == "held"
    res = client.post(f"/api/v1/transfers/{rid}/admit", headers=staff)
    assert res.status_code == 200, res.text
    samples = parse_metrics(client.get("/metrics").text)
    assert metric(samples, "hotline_transfer_request_to_admission_seconds_count") == 1
    assert metric(samples, "hotline_transfer_request_to_hold_seconds_count") == 1
    assert metric(samples, "hotline_transfer_requests", status="admitted") == 1
