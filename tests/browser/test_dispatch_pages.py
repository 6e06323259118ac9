"""The dispatch board and the hospital bed page in headless Chromium against the real server."""

from __future__ import annotations

from typing import Any

from dispatch import ambulances, jobs
from kernel.db import unit_of_work
from tests.helpers import (
    LiveServer,
    in_english,
    make_hospital,
    make_user,
    pool,
    shot,
    sign_in,
    transfer,
)


def open_signed_in(page: Any, url: str, username: str) -> None:
    in_english(page)  # the test names buttons by their English text
    sign_in(page, url, username)
    page.wait_for_selector("#app:not(.hidden)")


def test_dispatcher_requests_hospital_accepts_and_admits(browser: Any) -> None:
    cho_ray = make_hospital(
        "Bệnh viện Chợ Rẫy", lat=10.7579, lon=106.6596, beds={"icu": (24, 22), "oxygen": (80, 70)}
    )
    make_hospital("Bệnh viện Nhân dân 115", lat=10.7756, lon=106.6676, beds={"icu": (12, 12)})
    make_hospital("Bệnh viện Quận 7", lat=10.7387, lon=106.7216, beds={"icu": (6, 5)})
    make_user("dispatcher1", "dispatcher")
    with unit_of_work() as s:
        ambulances.create_ambulance(
            s, name="115 Quận 5", base_lat=10.755, base_lon=106.667, actor="t"
        )
        ambulances.create_ambulance(
            s, name="115 Thủ Đức", base_lat=10.85, base_lon=106.77, actor="t"
        )
    make_user("choray1", "hospital", hospital_id=cho_ray)
    live = LiveServer().start()
    try:
        board = browser.new_page(viewport={"width": 1280, "height": 900})
        open_signed_in(board, f"{live.url}/static/dispatch.html", "dispatcher1")
        board.fill("#nr-patient", "F0-Q1-0042")
        board.select_option("#nr-bed", "icu")
        board.select_option("#nr-urgency", "emergency")
        board.fill("#nr-lat", "10.7620")  # District 5, a few streets from Chợ Rẫy
        board.fill("#nr-lon", "106.6650")
        board.click("#new-request button[type=submit]")
        row = board.locator("#board tbody tr", has_text="F0-Q1-0042")
        row.wait_for()
        rid = row.get_attribute("data-id")
        assert rid
        # The dispatch worker's job, run here: the page must show its result live.
        assert jobs.match_request(rid) == "held"
        board.locator("#board tbody tr .s-held").wait_for()
        board.locator("#board tbody tr .countdown").wait_for()
        board.locator("#candidates").wait_for()
        assert "Chợ Rẫy" in row.inner_text()
        shot(board, "dispatch-board-held")

        hospital = browser.new_page(viewport={"width": 1280, "height": 800})
        open_signed_in(hospital, f"{live.url}/static/hospital.html", "choray1")
        incoming = hospital.locator("#incoming tbody tr", has_text="F0-Q1-0042")
        incoming.wait_for()
        assert hospital.inner_text("#hospital-name") == "Bệnh viện Chợ Rẫy"
        icu = hospital.locator('#beds tr[data-bed-type="icu"]')
        assert icu.locator(".avail").inner_text() == "1"  # 24 - 22 - 1 held
        shot(hospital, "hospital-incoming")
        incoming.get_by_role("button", name="Accept").click()
        hospital.locator("#incoming .s-accepted").wait_for()
        # the dispatcher sends the nearest free ambulance team
        row.get_by_role("button", name="Assign transport").click()
        row.locator(".s-in_transit").wait_for()
        assert "115 Quận 5" in board.inner_text("#ambulances")
        hospital.locator("#incoming .s-in_transit").wait_for()
        # quick update: one more ICU bed staffed
        icu.locator('input[name="total"]').fill("25")
        icu.get_by_role("button", name="Save").click()
        hospital.wait_for_function(
            "document.querySelector('#beds tr[data-bed-type=icu] .avail').textContent === '2'"
        )
        shot(hospital, "hospital-accepted")
        incoming.get_by_role("button", name="Admit").click()
        # The admitted patient leaves the incoming list for the admissions list.
        hospital.locator("#admissions tbody tr", has_text="F0-Q1-0042").wait_for()
        assert hospital.locator("#incoming tbody tr", has_text="F0-Q1-0042").count() == 0

        board.locator("#board tbody tr .s-admitted").wait_for(timeout=10_000)
        board.locator("#ambulances .s-admitted").first.wait_for()  # the team is free again
        shot(board, "dispatch-board-admitted")
        assert transfer(rid)["status"] == "admitted"
        p = pool(cho_ray, "icu")
        assert (p.total, p.occupied, p.held) == (25, 23, 0)
    finally:
        live.stop()


def test_wrong_password_is_shown(browser: Any) -> None:
    live = LiveServer().start()
    try:
        page = browser.new_page()
        in_english(page)
        sign_in(page, f"{live.url}/static/hospital.html", "nobody", "wrong-password")
        page.wait_for_function("document.querySelector('#signin-error').textContent.length > 0")
        assert "wrong username or password" in page.inner_text("#signin-error").lower()
    finally:
        live.stop()
