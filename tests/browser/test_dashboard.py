"""The supervisor dashboard in headless Chromium against the real server: live figures and ward levels."""

from __future__ import annotations

from typing import Any

from kernel.db import unit_of_work
from tests.helpers import ARTIFACTS, LiveServer, make_user, seed_branches, sign_in


def _seed() -> None:
    from dispatch import demo as dispatch_demo
    from triage.areas import demo as area_demo
    from triage.areas.figures import local_today
    from triage.areas.levels import recompute_levels
    from triage.models import Patient

    seed_branches()
    make_user("sup", "supervisor")
    with unit_of_work() as s:
        dispatch_demo.seed_demo(s)
        area_demo.seed_demo(s)
        # A week of cases in Bến Thành, and one death in Cầu Kho, so the grid is not all one colour.
        today = local_today()
        for i in range(120):
            s.add(Patient(full_name=f"BN {i}", ward_code="26743", positive_test_on=today))
        s.add(Patient(full_name="BN x", ward_code="26761", outcome="died", outcome_on=today))
        s.flush()
        recompute_levels(s)


def test_dashboard_shows_live_branches_beds_and_explains_a_ward(browser: Any) -> None:
    _seed()
    server = LiveServer().start()
    try:
        for n in range(3):
            assert arrive_live(server, f"dash-live-{n}") == 200
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        sign_in(page, server.url + "/static/dashboard.html", "sup")
        page.wait_for_selector("#board:not(.hidden)")
        page.wait_for_selector("#live-state:not(.down)")
        assert page.text_content("[data-branch='3'] [data-field=waiting]") == "3"
        assert page.locator("[data-branch='3'] svg.spark polyline").count() == 1
        assert page.locator("#ward-grid .tile").count() == 37
        assert page.locator("#ward-grid .tile.lvl-3").count() >= 1
        # A call arriving now shows up through the websocket push, without a reload.
        assert arrive_live(server, "dash-live-3") == 200
        page.wait_for_function(
            "document.querySelector(\"[data-branch='3'] [data-field=waiting]\").textContent === '4'",
            timeout=10_000,
        )
        page.click("#ward-grid .tile[data-ward='26743']")
        steps = page.locator("#explain-steps li")
        assert steps.count() >= 10
        # Decision 218's steps in the page's language, rates per 100,000 as whole numbers.
        first_step = steps.first.text_content() or ""
        assert first_step.startswith("1a ca mắc mới: ca mới/100.000 dân trong 7 ngày ")
        assert "per 100,000" not in page.inner_text("#ward-explain")
        assert page.locator("#beds .stale-tag").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        # The sticky top bar would otherwise be drawn where the click scrolled to.
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        assert errors == []
    finally:
        server.stop()


def arrive_live(server: LiveServer, pcid: str) -> int:
    import httpx

    from kernel.security import signed_headers

    body = (
        f'{{"provider_call_id": "{pcid}", "caller": "09{abs(hash(pcid)) % 10**8:08d}", '
        '"digits": "3"}'
    ).encode()
    res = httpx.post(
        server.url + "/api/v1/telephony/calls",
        content=body,
        headers={
            **signed_headers("POST", "/api/v1/telephony/calls", body),
            "Content-Type": "application/json",
        },
        timeout=10,
    )
    return res.status_code
