"""The triage panel in the real doctor console: history and trend, live scoring, signing, transfer status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import (
    PASSWORD,
    LiveServer,
    arrive,
    in_english,
    make_user,
    seed_branches,
    shot,
    sign_in,
)

CALLER = "0908765432"


@pytest.fixture
def server() -> Iterator[LiveServer]:
    seed_branches()
    live = LiveServer().start()
    yield live
    live.stop()


def patient_with_history(url: str) -> str:
    """A patient on the caller's number with two earlier assessments (worsening)."""
    with httpx.Client(base_url=url) as http:
        tok = http.post(
            "/api/v1/auth/token", data={"username": "dr_t", "password": PASSWORD}
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        p = http.post(
            "/api/v1/triage/patients",
            json={
                "full_name": "Phạm Thị Hoa",
                "phones": [CALLER],
                "age_years": 67,
                "sex": "female",
            },
            headers=h,
        ).json()
        for vitals in (
            {"respiratory_rate": 16, "spo2": 98, "pulse": 80, "temperature_c": 37.2},
            {"respiratory_rate": 18, "spo2": 97, "pulse": 92, "temperature_c": 38.3},
        ):
            res = http.post(
                f"/api/v1/triage/patients/{p['id']}/assessments",
                json={"vitals": {**vitals, "on_oxygen": False, "consciousness": "alert"}},
                headers=h,
            )
            assert res.status_code == 201, res.text
        return str(p["id"])


def test_doctor_scores_signs_and_sees_the_transfer(server: LiveServer, browser: Any) -> None:
    make_user("dr_t", "doctor", branches={"3": 1})
    patient_with_history(server.url)
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    in_english(page)  # the test reads the panel's English words
    sign_in(page, server.url + "/static/console.html", "dr_t")
    page.wait_for_selector("#console-view:not(.hidden)")
    page.click("#go-available")
    page.wait_for_selector("#presence-state[data-state='available']")
    with httpx.Client(base_url=server.url) as http:
        assert arrive(http, "triage-browser-1", caller=CALLER).json()["status"] == "queued"
    page.wait_for_selector("#accept-offer:visible", timeout=10_000)
    page.click("#accept-offer")

    # The caller's only patient opens with the history and its trend chart.
    page.wait_for_selector("#patient-panel .tp-name")
    assert page.inner_text("#patient-panel .tp-name") == "Phạm Thị Hoa"
    page.wait_for_selector("#tp-timeline svg.tp-chart circle.tp-news2-dot")
    assert page.locator("svg.tp-chart circle.tp-news2-dot").count() == 2
    assert page.locator("#tp-timeline .tp-item").count() >= 2

    # Live scoring as the doctor types.
    page.fill("input[name=respiratory_rate]", "23")
    page.fill("input[name=spo2]", "93")
    page.fill("input[name=pulse]", "104")
    page.fill("input[name=temperature_c]", "38.6")
    page.select_option("select[name=consciousness]", "alert")
    page.check("input[value=shortness_of_breath]")
    page.wait_for_function(
        "document.querySelector('#tp-recommendation')?.textContent.includes('oxygen bed')"
    )
    # RR 23 -> 2, SpO2 93 -> 2, air 0, pulse 104 -> 1, alert 0, 38.6 -> 1 = 6; the systolic
    # pressure is not measured, so 6 is a lower bound and the missing one is named.
    assert page.inner_text("#tp-news2-total") == "≥ 6"
    assert page.inner_text("#tp-news2-risk") == "at least medium risk"
    assert page.inner_text("#tp-news2-missing") == "Not measured: systolic pressure"
    # The warning signs in words (SpO2 at or below the limit), never the code.
    assert "SpO₂" in page.inner_text("#tp-score .tp-signs")
    assert "spo2" not in page.inner_text("#tp-score")
    shot(page, "triage-console-live-score")

    # A value outside the plausible range is refused, naming the field.
    page.fill("input[name=spo2]", "130")
    page.wait_for_selector(".tp-field-error")
    assert "SpO₂ %" in page.inner_text(".tp-field-error")
    page.fill("input[name=spo2]", "93")
    page.wait_for_function("document.querySelector('#tp-news2-total')?.textContent === '≥ 6'")
    page.fill("textarea[name=notes]", "Breathless on walking; SpO2 re-measured after 60 s.")
    page.click("#tp-sign")
    page.wait_for_selector("#tp-transfer-status")
    status = page.get_attribute("#tp-transfer-status", "data-status")
    assert status in ("requested", "matching", "offered", "held", "queued"), status
    # In words, whichever it is.
    assert page.inner_text("#tp-transfer-status") in (
        "requested",
        "finding a bed",
        "bed held",
        "queued",
    )
    page.wait_for_function(
        "document.querySelectorAll('svg.tp-chart circle.tp-news2-dot').length === 3"
    )
    shot(page, "triage-console-after-sign")
