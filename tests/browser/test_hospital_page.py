"""The hospital page keeps its bed table live whatever is focused, and marks unsaved edits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dispatch.beds import BedCounts, update_beds
from kernel.db import unit_of_work
from tests.helpers import LiveServer, make_hospital, make_user, shot, sign_in


def set_icu(hospital_id: str, total: int, occupied: int) -> None:
    """Another clerk (or the bulk feed) changes the ICU counts behind the page's back."""
    with unit_of_work() as s:
        update_beds(
            s,
            hospital_id=hospital_id,
            counts=[BedCounts("icu", total, occupied, 0)],
            as_of=datetime.now(UTC),
            actor="other-clerk",
        )


def avail_is(page: Any, value: str) -> None:
    page.wait_for_function(
        "v => document.querySelector('#beds tr[data-bed-type=icu] .avail')?.textContent === v",
        arg=value,
        timeout=15_000,
    )


def test_bed_table_stays_live_after_focus_and_blur(browser: Any) -> None:
    hid = make_hospital("Bệnh viện Dã chiến số 3", beds={"icu": (20, 15), "oxygen": (50, 40)})
    make_user("clerk3", "hospital", hospital_id=hid)
    live = LiveServer().start()
    try:
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        sign_in(page, f"{live.url}/static/hospital.html", "clerk3")
        page.wait_for_selector("#app:not(.hidden)")
        avail_is(page, "5")
        icu = page.locator('#beds tr[data-bed-type="icu"]')

        # Click into a count and leave it unchanged: nothing is unsaved and the table stays live.
        icu.locator('input[name="occupied"]').focus()
        page.locator("h2").first.click()
        set_icu(hid, 20, 17)
        avail_is(page, "3")
        assert icu.locator('input[name="occupied"]').input_value() == "17"
        assert "unsaved" not in (icu.get_attribute("class") or "")

        # While a count is being typed, the other cells keep updating and the typing survives.
        icu.locator('input[name="total"]').fill("22")
        set_icu(hid, 20, 18)
        avail_is(page, "2")
        assert icu.locator('input[name="total"]').input_value() == "22"
        # Leaving the field keeps the draft, marked unsaved, and updates still arrive.
        page.locator("h2").first.click()
        page.wait_for_selector('#beds tr.unsaved[data-bed-type="icu"] .unsaved-mark:visible')
        set_icu(hid, 20, 19)
        avail_is(page, "1")
        assert icu.locator('input[name="total"]').input_value() == "22"
        assert icu.locator('input[name="occupied"]').input_value() == "19"
        shot(page, "hospital-unsaved-draft")

        # Typing the saved value back is no edit; saving a draft clears the mark.
        icu.locator('input[name="total"]').fill("20")
        page.wait_for_selector('#beds tr[data-bed-type="icu"]:not(.unsaved)')
        icu.locator('input[name="total"]').fill("24")
        icu.locator("button.primary").click()
        avail_is(page, "5")
        page.wait_for_selector('#beds tr[data-bed-type="icu"]:not(.unsaved)')
    finally:
        live.stop()
