"""Every page at a laptop, a tablet and a phone width, in Vietnamese, with a real transfer on the
board: who the patient is, no English code word, the console's Sign button in view at 1366x768.

It also measures, for people to read (never asserted): the console's first paint, the time from
going available to a visible offer with 50 calls queued, and each page's script size. The
numbers go to the test log and test-artifacts/pages-measurements.txt.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tests.helpers import (
    ARTIFACTS,
    OXYGEN_VITALS,
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

WIDTHS = [(1366, 768), (768, 1024), (390, 844)]
CALLER = "0907111222"
NAME = "Trần Thị Bình"
# Codes and English words that must never reach a Vietnamese page.
ENGLISH = re.compile(
    r"\b(held|requested|accepted|admitted|in_transit|waiting_for_bed|matching|emergency|urgent|"
    r"oxygen|home_care|transfer|mild|moderate|severe|critical|available|offline|respiratory_rate|"
    r"spo2|low-medium|patient|caller)\b"
)


def measure(line: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "pages-measurements.txt").open("a", encoding="utf-8") as f:
        f.write(line + "\n")
    print(line)


def seed_transfer(url: str) -> None:
    """A patient scored by a doctor and sent to the one hospital with an oxygen bed (held)."""
    send_for_bed(
        url,
        "dr_w",
        {"full_name": NAME, "phones": [CALLER], "age_years": 58, "sex": "female"},
        OXYGEN_VITALS,
    )


def vietnamese_only(page: Any, where: str) -> None:
    text = page.inner_text("body")
    found = sorted(set(ENGLISH.findall(text)))
    assert found == [], (where, found)


def script_bytes(page: Any) -> int:
    return int(
        page.evaluate(
            """() => performance.getEntriesByType('resource')
                .filter((e) => e.name.endsWith('.js'))
                .reduce((n, e) => n + (e.decodedBodySize || 0), 0)"""
        )
    )


@pytest.mark.parametrize(("width", "height"), WIDTHS, ids=[f"{w}x{h}" for w, h in WIDTHS])
def test_every_page_at_this_width(browser: Any, width: int, height: int) -> None:
    seed_branches()
    hid = make_hospital("Bệnh viện Dã chiến số 5", beds={"oxygen": (40, 30)})
    make_user("dr_w", "doctor", branches={"3": 1})
    make_user("disp_w", "dispatcher")
    make_user("sup_w", "supervisor")
    make_user("clerk_w", "hospital", hospital_id=hid)
    live = LiveServer().start()
    size = f"{width}x{height}"
    try:
        seed_transfer(live.url)
        ctx = browser.new_context(viewport={"width": width, "height": height})

        board = ctx.new_page()
        sign_in(board, f"{live.url}/static/dispatch.html", "disp_w")
        board.locator("#board tbody tr .card-name", has_text=NAME).wait_for(timeout=20_000)
        assert "SpO₂ 93%" in board.inner_text("#board")
        # No address on record: the pick-up point says it is unknown, never a silent city centre.
        assert "điểm đón: chưa rõ" in board.inner_text("#board")
        vietnamese_only(board, f"dispatch {size}")
        shot(board, f"widths-dispatch-{size}")
        measure(f"{size} dispatch.html scripts {script_bytes(board)} bytes")

        hospital = ctx.new_page()
        sign_in(hospital, f"{live.url}/static/hospital.html", "clerk_w")
        hospital.locator("#incoming .card-name", has_text=NAME).wait_for(timeout=20_000)
        vietnamese_only(hospital, f"hospital {size}")
        for page in (board, hospital):
            wider = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert wider <= 0, f"{page.url} wider than {size} by {wider}px"
        shot(hospital, f"widths-hospital-{size}")
        measure(f"{size} hospital.html scripts {script_bytes(hospital)} bytes")

        for name, ready in (
            ("supervisor", "#board:not(.hidden)"),
            ("dashboard", "#board:not(.hidden)"),
        ):
            page = ctx.new_page()
            sign_in(page, f"{live.url}/static/{name}.html", "sup_w")
            page.wait_for_selector(ready, timeout=20_000)
            vietnamese_only(page, f"{name} {size}")
            shot(page, f"widths-{name}-{size}")
            measure(f"{size} {name}.html scripts {script_bytes(page)} bytes")

        console = ctx.new_page()
        sign_in(console, f"{live.url}/static/console.html", "dr_w")
        console.wait_for_selector("#console-view:not(.hidden)", timeout=20_000)
        paint = console.evaluate(
            "() => performance.getEntriesByType('paint').map((e) => [e.name, e.startTime])"
        )
        measure(f"{size} console.html first paint {paint}; scripts {script_bytes(console)} bytes")
        queued = 50 if width == 1366 else 1
        with httpx.Client(base_url=live.url, timeout=30) as http:
            assert arrive(http, "w-0", caller=CALLER).json()["status"] == "queued"
            for n in range(1, queued):
                arrive(http, f"w-{n}", caller=f"0908{n:06d}")
        started = time.monotonic()
        console.click("#go-available")
        console.wait_for_selector("#accept-offer:visible", timeout=30_000)
        measure(
            f"{size} console offer visible {1000 * (time.monotonic() - started):.0f} ms after "
            f"going available with {queued} calls queued"
        )
        console.click("#accept-offer")
        console.wait_for_selector("#patient-panel .tp-name", timeout=20_000)
        console.fill("input[name=respiratory_rate]", "22")
        console.fill("input[name=spo2]", "95")
        console.wait_for_selector("#tp-news2-total", timeout=20_000)
        vietnamese_only(console, f"console {size}")
        shot(console, f"widths-console-{size}")
        if width == 1366:
            # During a call the vitals, the live score and the Sign button show without scrolling.
            console.evaluate("window.scrollTo(0, 0)")
            for sel in ("input[name=spo2]", "#tp-news2-total", "#tp-sign"):
                box = console.locator(sel).bounding_box()
                assert box is not None and box["y"] + box["height"] <= height, (sel, box)
        else:
            overflow = console.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            wide = console.evaluate(
                """() => [...document.querySelectorAll('body *')]
                    .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                    .slice(0, 5).map((e) => e.tagName + '#' + e.id + '.' + e.className)"""
            )
            assert overflow <= 0, f"console wider than {size} by {overflow}px: {wide}"
        ctx.close()
    finally:
        live.stop()


def test_a_doctor_takes_assesses_and_completes_a_call_on_a_phone(browser: Any) -> None:
    """At 390x844: a new caller's patient recorded with a street and a ward picked by name, an
    assessment signed, and the call completed with the decision already filled in."""
    from triage.areas.models import District, Province, Ward

    seed_branches()
    from kernel.db import unit_of_work

    with unit_of_work() as s:
        s.add(Province(code="79", name="Hồ Chí Minh"))
        s.flush()
        s.add(District(code="760", province_code="79", name="Quận 1"))
        s.flush()
        s.add(Ward(code="26743", district_code="760", name="Bến Thành", population=12_000))
    make_user("dr_phone", "doctor", branches={"3": 1})
    live = LiveServer().start()
    try:
        page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        sign_in(page, f"{live.url}/static/console.html", "dr_phone")
        page.wait_for_selector("#console-view:not(.hidden)", timeout=20_000)
        page.click("#go-available")
        page.wait_for_selector("#presence-state[data-state='available']", timeout=20_000)
        with httpx.Client(base_url=live.url, timeout=30) as http:
            assert arrive(http, "phone-1", caller="0909555666").json()["status"] == "queued"
        page.click("#accept-offer", timeout=30_000)
        form = page.locator("#tp-new-patient")
        form.wait_for(timeout=20_000)
        form.locator("input[name=full_name]").fill("Lê Văn Cường")
        form.locator("input[name=age_years]").fill("44")
        form.locator("input[name=street]").fill("12 Lê Lợi")
        form.locator("input[name=ward]").fill("Bến Thành, Quận 1")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#tp-sign", timeout=20_000)
        for name, value in (("respiratory_rate", "18"), ("spo2", "97"), ("pulse", "80")):
            page.fill(f"input[name={name}]", value)
        page.wait_for_selector("#tp-news2-total", timeout=20_000)
        box = page.locator("#tp-sign").bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 300
        page.click("#tp-sign")
        page.wait_for_function(
            "document.querySelector('#disposition').value === 'home_care'", timeout=20_000
        )
        shot(page, "phone-console-signed")
        page.click("#complete-call")
        page.wait_for_selector("#wrapup-panel:not(.hidden)", timeout=20_000)
        with httpx.Client(base_url=live.url, timeout=30) as http:
            tok = http.post(
                "/api/v1/auth/token", data={"username": "dr_phone", "password": PASSWORD}
            ).json()["access_token"]
            (p,) = http.get(
                "/api/v1/triage/patients",
                params={"phone": "0909555666"},
                headers={"Authorization": f"Bearer {tok}"},
            ).json()
        assert (p["street"], p["ward_code"]) == ("12 Lê Lợi", "26743")
    finally:
        live.stop()
