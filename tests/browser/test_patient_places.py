"""Where the patient is, and who may follow them, at a laptop, a tablet and a phone width:
the ward picker finds a ward typed without diacritics in either scheme, a pick-up at a ward
centre says it is approximate, and the patient card links to the timeline only for a reader
the timeline route admits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kernel.db import unit_of_work
from tests.helpers import (
    PASSWORD,
    LiveServer,
    arrive,
    make_hospital,
    make_user,
    seed_branches,
    send_for_bed,
    shot,
    sign_in,
)
from triage.areas import csv_import, units

WIDTHS = [(1366, 768), (768, 1024), (390, 844)]
IDS = [f"{w}x{h}" for w, h in WIDTHS]
NAME = "Phạm Thị Hoa"
PHONE = "0907333444"


def load_areas() -> None:
    with unit_of_work() as s:
        csv_import.load_sample(s)
        units.import_units(s, "2025", "79")


def no_overflow(page: Any, where: str) -> None:
    wider = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert wider <= 0, f"{where} wider than the screen by {wider}px"


def send_patient(url: str) -> str:
    """A patient in Bến Thành (2021 list, approximate centre) sent to the one ICU (held)."""
    pid, _, signed = send_for_bed(
        url,
        "dr_p",
        {"full_name": NAME, "phones": [PHONE], "age_years": 63, "ward_code": "26743"},
        {"respiratory_rate": 28, "spo2": 88, "consciousness": "alert"},
    )
    assert signed["transfer"]["pickup"]["source"] == "ward_centre"
    return pid


@pytest.mark.parametrize(("width", "height"), WIDTHS, ids=IDS)
def test_the_card_links_to_the_timeline_only_for_who_may_read_it(
    browser: Any, width: int, height: int
) -> None:
    load_areas()
    hid = make_hospital("Bệnh viện Dã chiến số 7", beds={"icu": (10, 5)})
    other = make_hospital("Bệnh viện Dã chiến số 8", beds={"icu": (10, 9)})
    make_user("dr_p", "doctor")
    make_user("disp_p", "dispatcher")
    make_user("clerk_p", "hospital", hospital_id=hid)
    make_user("clerk_x", "hospital", hospital_id=other)
    size = f"{width}x{height}"
    live = LiveServer().start()
    try:
        pid = send_patient(live.url)
        ctx = browser.new_context(viewport={"width": width, "height": height})

        # The dispatcher sees who and where, but never reads the record: no link.
        board = ctx.new_page()
        sign_in(board, f"{live.url}/static/dispatch.html", "disp_p")
        card = board.locator("#board .patient-card", has_text=NAME)
        card.wait_for(timeout=20_000)
        assert "Bến Thành, Quận 1" in card.inner_text()
        assert "trung tâm phường (ước lượng)" in card.inner_text()
        assert card.locator(".card-timeline").count() == 0
        no_overflow(board, f"dispatch {size}")
        shot(board, f"places-dispatch-card-{size}")

        # The receiving hospital's staff: the link, and it opens the timeline.
        hospital = ctx.new_page()
        sign_in(hospital, f"{live.url}/static/hospital.html", "clerk_p")
        card = hospital.locator("#incoming .patient-card", has_text=NAME)
        card.wait_for(timeout=20_000)
        link = card.locator("a.card-timeline")
        assert link.inner_text() == "Xem diễn tiến"
        no_overflow(hospital, f"hospital {size}")
        card.screenshot(
            path=str(
                shot(hospital, f"places-hospital-{size}").with_name(
                    f"places-hospital-card-{size}.png"
                )
            )
        )
        link.click()
        hospital.wait_for_selector("#timeline .tl-assessment", timeout=20_000)
        text = hospital.inner_text("#timeline")
        assert "Đánh giá" in text and "SpO₂ 88%" in text and "Chuyển viện" in text
        assert pid in hospital.url
        no_overflow(hospital, f"timeline {size}")
        shot(hospital, f"places-timeline-{size}")

        # Another hospital's staff following the same address are refused, in words.
        outsider = ctx.new_page()
        sign_in(outsider, f"{live.url}/static/timeline.html?patient={pid}", "clerk_x")
        outsider.wait_for_function(
            "document.querySelector('#signin-error').textContent.length > 0", timeout=20_000
        )
        assert "không được xem" in outsider.inner_text("#signin-error")
        assert outsider.locator("#app.hidden").count() == 1
        ctx.close()
    finally:
        live.stop()


@pytest.mark.parametrize(("width", "height"), WIDTHS, ids=IDS)
def test_the_ward_picker_finds_wards_typed_without_diacritics(
    browser: Any, width: int, height: int
) -> None:
    load_areas()
    seed_branches()
    make_user("dr_pick", "doctor", branches={"3": 1})
    live = LiveServer().start()
    size = f"{width}x{height}"
    try:
        page = browser.new_context(viewport={"width": width, "height": height}).new_page()
        sign_in(page, f"{live.url}/static/console.html", "dr_pick")
        page.wait_for_selector("#console-view:not(.hidden)", timeout=20_000)
        page.click("#go-available")
        page.wait_for_selector("#presence-state[data-state='available']", timeout=20_000)
        with httpx.Client(base_url=live.url, timeout=30) as http:
            assert arrive(http, f"pick-{width}", caller=PHONE).json()["status"] == "queued"
        page.click("#accept-offer", timeout=30_000)
        form = page.locator("#tp-new-patient")
        form.wait_for(timeout=20_000)
        form.locator("input[name=full_name]").fill(NAME)
        form.locator("input[name=age_years]").fill("63")
        ward = form.locator("input[name=ward]")
        ward.press_sequentially("ben thanh")
        choices = page.locator("#tp-ward-choices .tp-ward-choice")
        choices.first.wait_for(timeout=20_000)
        listed = choices.all_inner_texts()
        # Both schemes, each saying which it is: the 2021 ward in its district, the 2025 ward
        # in the merged city.
        assert any("Bến Thành, Quận 1" in c and "đơn vị 2021" in c for c in listed), listed
        assert any(
            "Phường Bến Thành, Thành phố Hồ Chí Minh" in c and "1/7/2025" in c for c in listed
        ), listed
        no_overflow(page, f"console picker {size}")
        page.locator("#tp-ward-input").scroll_into_view_if_needed()
        shot(page, f"places-ward-picker-{size}")
        page.locator(".tp-ward-choice", has_text="Phường Bến Thành").click()
        assert ward.input_value() == "Phường Bến Thành, Thành phố Hồ Chí Minh"
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#tp-sign", timeout=20_000)
        assert "Phường Bến Thành" in page.inner_text("#tp-head")
        with httpx.Client(base_url=live.url, timeout=30) as http:
            tok = http.post(
                "/api/v1/auth/token", data={"username": "dr_pick", "password": PASSWORD}
            ).json()["access_token"]
            (p,) = http.get(
                "/api/v1/triage/patients",
                params={"phone": PHONE},
                headers={"Authorization": f"Bearer {tok}"},
            ).json()
        assert p["ward_code"] == "2025-26743"
    finally:
        live.stop()


def test_a_ward_name_the_list_does_not_know_is_refused_not_dropped(browser: Any) -> None:
    load_areas()
    seed_branches()
    make_user("dr_typo", "doctor", branches={"3": 1})
    live = LiveServer().start()
    try:
        page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        sign_in(page, f"{live.url}/static/console.html", "dr_typo")
        page.wait_for_selector("#console-view:not(.hidden)", timeout=20_000)
        page.click("#go-available")
        page.wait_for_selector("#presence-state[data-state='available']", timeout=20_000)
        with httpx.Client(base_url=live.url, timeout=30) as http:
            assert arrive(http, "typo-1", caller=PHONE).json()["status"] == "queued"
        page.click("#accept-offer", timeout=30_000)
        form = page.locator("#tp-new-patient")
        form.wait_for(timeout=20_000)
        form.locator("input[name=full_name]").fill(NAME)
        form.locator("input[name=age_years]").fill("63")
        form.locator("input[name=ward]").fill("Phường Không Có")
        form.locator("button[type=submit]").click()
        page.wait_for_function(
            "document.querySelector('#tp-new-error').textContent.length > 0", timeout=20_000
        )
        assert "Chọn phường/xã" in page.inner_text("#tp-new-error")
        assert page.locator("#tp-sign").count() == 0  # no patient recorded
    finally:
        live.stop()
