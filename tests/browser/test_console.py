"""The doctor console and supervisor pages in headless Chromium against the real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hotline.models import Branch, Call
from kernel.db import unit_of_work, utcnow
from tests.helpers import LiveServer, arrive, make_user, seed_branches, shot, sign_in

CALLER = "0909123456"


@pytest.fixture
def server() -> Iterator[LiveServer]:
    seed_branches()
    # Short wrap-up so the test sees the console return to available.
    live = LiveServer({"HOTLINE_WRAPUP_S": "4"}).start()
    yield live
    live.stop()


class SocketRelay:
    """Carries the console's websocket through the test, so the test can cut it like a network blip."""

    def __init__(self) -> None:
        self.to_server: list[Any] = []

    def __call__(self, route: Any) -> None:
        self.to_server.append(route.connect_to_server())

    def drop(self) -> None:
        # Closing the server side closes the page's side too, as a lost connection would.
        self.to_server[-1].close()


def earlier_call_from(caller: str) -> None:
    with unit_of_work() as s:
        b3 = s.scalar(select(Branch).where(Branch.digit == "3"))
        when = utcnow() - timedelta(days=2)
        s.add(
            Call(
                provider_call_id="earlier-1",
                caller=caller,
                branch_id=b3.id,
                status="completed",
                queued_at=when,
                created_at=when,
                answered_at=when + timedelta(seconds=12),
                disposition="home_care",
                notes="SpO2 97%, mild cough",
            )
        )


@pytest.mark.parametrize("width", [1280, 820], ids=["laptop", "tablet"])
def test_doctor_works_a_call_and_survives_a_dropped_socket(server, browser, width):
    make_user("dr_a", "doctor", branches={"3": 1})
    earlier_call_from(CALLER)
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="vi-VN")
    relay = SocketRelay()
    context.route_web_socket(re.compile(r"/ws/console"), relay)
    page = context.new_page()
    sign_in(page, server.url + "/", "dr_a")
    page.wait_for_selector("#console-view:not(.hidden)")
    page.wait_for_selector("#branch-figures .figure[data-branch='3']")
    shot(page, f"console-{width}-1-signed-in")

    page.click("#go-available")
    page.wait_for_selector("#presence-state[data-state='available']")
    shot(page, f"console-{width}-2-available")

    with httpx.Client(base_url=server.url) as http:
        receipt = arrive(http, f"browser-{width}", caller=CALLER).json()
    assert receipt["status"] == "queued"
    page.wait_for_selector("body[data-view='offer']", timeout=10_000)
    assert page.inner_text("#offer-caller") == CALLER
    assert int(page.inner_text("#offer-countdown")) > 0
    shot(page, f"console-{width}-3-offer")

    page.click("#accept-offer")
    page.wait_for_selector("body[data-view='call']")
    assert page.inner_text("#call-caller") == CALLER
    page.wait_for_selector("#history-list .history-item")
    assert "SpO2 97%" in page.inner_text("#history-list")
    assert page.locator("#patient-panel").count() == 1
    # The call timer moves.
    page.wait_for_function(
        "document.querySelector('#call-timer').textContent !== '0:00'", timeout=5_000
    )
    assert page.inner_text("#call-timer") != "0:00"
    shot(page, f"console-{width}-4-on-call")

    # A network blip: the socket drops, the console reconnects and still shows the call.
    relay.drop()
    page.wait_for_selector("#connection-banner:not(.hidden)", timeout=2_000)
    shot(page, f"console-{width}-5-reconnecting")
    page.wait_for_selector("#connection-banner.hidden", state="attached", timeout=10_000)
    assert page.get_attribute("body", "data-view") == "call"
    assert page.inner_text("#call-caller") == CALLER
    # A full reload (the tab restored) also comes back to the call from the hello message.
    page.reload()
    page.wait_for_selector("body[data-view='call']", timeout=10_000)
    assert page.inner_text("#call-caller") == CALLER
    shot(page, f"console-{width}-6-reconnected")

    page.select_option("#disposition", "home_care")
    page.fill("#notes", "Mild symptoms, continue home care; follow up tomorrow.")
    page.click("#complete-call")
    page.wait_for_selector("body[data-view='wrapup']")
    shot(page, f"console-{width}-7-wrap-up")
    page.wait_for_selector("#presence-state[data-state='available']", timeout=15_000)
    assert page.get_attribute("body", "data-view") == "idle"
    shot(page, f"console-{width}-8-available-again")

    with unit_of_work() as s:
        call = s.get(Call, receipt["call_id"])
        assert call is not None
        assert call.status == "completed" and call.disposition == "home_care"
    context.close()


def test_supervisor_sees_branches_doctors_and_waiting_calls(server, browser):
    make_user("sup", "supervisor")
    make_user("dr_a", "doctor", branches={"3": 1})
    with httpx.Client(base_url=server.url) as http:
        arrive(http, "sup-1", caller="0901111111")
        arrive(http, "sup-2", caller="0902222222", digits="4")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, server.url + "/static/supervisor.html", "sup")
    page.wait_for_selector("#board:not(.hidden)")
    page.wait_for_selector("#waiting-calls table")
    assert "0901111111" in page.inner_text("#waiting-calls")
    assert "Dr dr_a" in page.inner_text("#doctor-table")
    page.click("#kpi-form button")
    page.wait_for_selector("#kpi-result .figure")
    page.fill("#st-target", "0.85")
    page.click("#staffing-form button")
    page.wait_for_selector("#staffing-result .figure")
    assert "14" in page.inner_text("#staffing-result")
    page.fill("#cov-calls", "10")
    page.click("#coverage-form button")
    page.wait_for_selector("#coverage-result tr.short")
    page.evaluate("window.scrollTo(0, 0)")  # the sticky header would land mid-page otherwise
    shot(page, "supervisor-1-board")
    context.close()
