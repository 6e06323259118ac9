"""Pages people read: every page in Vietnamese and in English with real data on it, and none shows
a raw code; the console keeps a transfer in view after the call and its trend chart stays legible;
the dashboard says when it has lost its live feed and stops saying so once figures flow again.

A raw code is a snake_case token, a word of the vocabularies (hotline/vocab.py, triage/vocabulary.py,
dispatch/vocab.py) that the page's dictionary does not use as a word, None/null/undefined/NaN,
a rules version (news2-rcp-2017/r2...), or, on the Vietnamese page, an English status word.
"""

from __future__ import annotations

import importlib
import re
from enum import StrEnum
from typing import Any

import httpx
import pytest

from dispatch import jobs
from kernel.db import unit_of_work
from tests.helpers import (
    OXYGEN_VITALS,
    PASSWORD,
    LiveServer,
    arrive,
    in_english,
    make_hospital,
    make_user,
    seed_branches,
    send_for_bed,
    shot,
    sign_in,
    wait_for,
)

CALLER = "0907333444"
NAME = "Phạm Thị Hoa"
HOSPITAL = "Bệnh viện Dã chiến số 7"
# English words of the call centre and dispatch that must not reach the Vietnamese page.
ENGLISH_ON_VI = re.compile(
    r"(?<!\w)(held|requested|accepted|admitted|refused|cancelled|matching|waiting|queued|emergency|"
    r"urgent|routine|oxygen|transfer|mild|moderate|severe|critical|available|offline|away|patient|"
    r"caller|hospital|doctor|status|level|reconnecting|live|free|busy|low|medium|high|none|"
    r"Bed|Hospital|Status|Transfer|Doctor|Patient|Waiting|Request|Level|Ward)(?!\w)"
)
SNAKE = re.compile(r"(?<![\w/.:-])[a-z0-9]+(?:_[a-z0-9]+)+(?![\w/.-])")
NOTHING = re.compile(r"(?<!\w)(None|null|undefined|NaN)(?!\w)")
RULES_VERSION = re.compile(r"news2-rcp|moh-\d|qd-218|policy:|/r\d\b")
# An actor as the audit trail stores it ("user:lan", "cli:beds-import").
ACTOR = re.compile(r"(?<!\w)(?:user|cli|system):\w+")
# Names the test itself chose, which are data, not codes.
DATA = (NAME, HOSPITAL)


def vocabulary_codes() -> set[str]:
    codes: set[str] = set()
    for module in ("hotline.vocab", "triage.vocabulary", "dispatch.vocab"):
        for obj in vars(importlib.import_module(module)).values():
            if isinstance(obj, type) and issubclass(obj, StrEnum) and obj is not StrEnum:
                codes |= {m.value for m in obj if re.fullmatch(r"[a-z][a-z0-9_-]*", m.value)}
    return codes


def dictionary_words(page: Any, lang: str) -> str:
    """Every value of the page's dictionary for lang, joined: the words a page may legitimately show."""
    return str(
        page.evaluate(
            """async (lang) => {
                const m = await import('/static/translations.js');
                return Object.values(m[lang]).join(' \\n ');
            }""",
            lang,
        )
    )


def raw_codes(page: Any, lang: str) -> list[str]:
    """What on the visible page is a code rather than a word of its language."""
    text = page.inner_text("body")
    for name in DATA:
        text = text.replace(name, " ")
    words = dictionary_words(page, lang)
    found = set(SNAKE.findall(text)) | set(NOTHING.findall(text)) | set(RULES_VERSION.findall(text))
    found |= set(ACTOR.findall(text))
    for code in vocabulary_codes():
        as_word = re.compile(rf"(?<![\w-]){re.escape(code)}(?![\w-])")
        if as_word.search(text) and not as_word.search(words):
            found.add(code)
    if lang == "vi":
        found |= set(ENGLISH_ON_VI.findall(text))
    return sorted(found)


def assert_words_only(page: Any, lang: str, where: str) -> None:
    found = raw_codes(page, lang)
    assert found == [], f"{where} ({lang}) shows raw codes {found}"


def token(url: str, username: str) -> dict[str, str]:
    with httpx.Client(base_url=url, timeout=30) as http:
        res = http.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        return {"Authorization": f"Bearer {res.json()['access_token']}"}


def seed_world(*, demo: bool = True) -> str:
    """Branches, (with demo) the demo hospitals and wards with levels, one field hospital with
    oxygen beds and four people (no underscore in their names: a username is shown, and is not
    a code)."""
    from dispatch import demo as dispatch_demo
    from triage.areas import demo as area_demo
    from triage.areas.levels import recompute_levels

    seed_branches()
    if demo:
        with unit_of_work() as s:
            dispatch_demo.seed_demo(s)
            area_demo.seed_demo(s)
            s.flush()
            recompute_levels(s)
    hid = make_hospital(
        HOSPITAL, lat=10.7770, lon=106.7010, beds={"oxygen": (40, 30), "icu": (10, 6)}
    )
    make_user("bsan", "doctor", branches={"3": 1})
    make_user("dieuphoi", "dispatcher")
    make_user("giamsat", "supervisor")
    make_user("benhvien", "hospital", hospital_id=hid)
    return hid


def seed_transfer(url: str) -> str:
    """A patient scored by a doctor and sent for an oxygen bed, matched (a bed held); the request id."""
    patient = {"full_name": NAME, "phones": [CALLER], "age_years": 61, "sex": "female"}
    return send_for_bed(url, "bsan", patient, OXYGEN_VITALS)[1]


def hospital_step(url: str, rid: str, step: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        res = http.post(f"/api/v1/transfers/{rid}/{step}", json={}, headers=token(url, "benhvien"))
        assert res.status_code == 200, res.text


def take_call(page: Any, url: str, pcid: str) -> None:
    page.click("#go-available")
    page.wait_for_selector("#presence-state[data-state='available']", timeout=20_000)
    with httpx.Client(base_url=url, timeout=30) as http:
        assert arrive(http, pcid, caller=CALLER).json()["status"] == "queued"
    page.click("#accept-offer", timeout=30_000)
    page.wait_for_selector("#patient-panel .tp-name", timeout=20_000)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_no_page_shows_a_raw_code(browser: Any, lang: str) -> None:
    seed_world()
    live = LiveServer().start()
    try:
        rid = seed_transfer(live.url)
        hospital_step(live.url, rid, "accept")
        ctx = browser.new_context(viewport={"width": 1366, "height": 768})
        if lang == "en":
            in_english(ctx)
        errors: list[str] = []
        # (in_english's init script also runs on the blank page a tab opens with, which has no
        # localStorage: that refusal is the test's own, not a page's.)
        ctx.on(
            "weberror",
            lambda e: None if "localStorage" in str(e.error) else errors.append(str(e.error)),
        )

        board = ctx.new_page()
        sign_in(board, f"{live.url}/static/dispatch.html", "dieuphoi")
        board.locator("#board tbody tr .card-name", has_text=NAME).wait_for(timeout=20_000)
        board.locator("#board tbody tr", has_text=NAME).click()
        board.wait_for_selector("#detail ul.history li", timeout=20_000)
        assert_words_only(board, lang, "dispatch board")
        if lang == "en":
            # The board's bed type and status in words, never the codes.
            row = board.inner_text("#board tbody tr")
            assert "oxygen" in row and "accepted" in row, row
            shot(board, "words-dispatch-en")

        hospital = ctx.new_page()
        sign_in(hospital, f"{live.url}/static/hospital.html", "benhvien")
        hospital.locator("#incoming .card-name", has_text=NAME).wait_for(timeout=20_000)
        assert_words_only(hospital, lang, "hospital page")

        supervisor = ctx.new_page()
        sign_in(supervisor, f"{live.url}/static/supervisor.html", "giamsat")
        supervisor.wait_for_selector("#board:not(.hidden)", timeout=20_000)
        assert_words_only(supervisor, lang, "supervisor page")

        dashboard = ctx.new_page()
        sign_in(dashboard, f"{live.url}/static/dashboard.html", "giamsat")
        dashboard.wait_for_selector("#live-state:not(.down)", timeout=20_000)
        dashboard.locator("#ward-grid .tile").first.click()
        dashboard.wait_for_selector("#explain-steps li", timeout=20_000)
        # The rules version as words, the raw version only as the tooltip.
        rules = dashboard.locator("#ward-explain .rules")
        assert (rules.get_attribute("title") or "").startswith("qd-218-byt-2022/r")
        assert "218/QĐ-BYT (2022)" in rules.inner_text()
        # The counts the level came from, opened, are words too.
        dashboard.click("#ward-sources summary")
        assert dashboard.locator("#ward-sources li").count() >= 8
        assert_words_only(dashboard, lang, "dashboard")

        console = ctx.new_page()
        sign_in(console, f"{live.url}/static/console.html", "bsan")
        console.wait_for_selector("#console-view:not(.hidden)", timeout=20_000)
        assert_words_only(console, lang, "console, idle")
        take_call(console, live.url, f"words-{lang}")
        console.locator("#tp-timeline .tp-step").first.wait_for(timeout=20_000)
        console.fill("input[name=respiratory_rate]", "18")
        console.fill("input[name=spo2]", "97")
        console.wait_for_selector("#tp-news2-response", timeout=20_000)
        rules = console.locator("#tp-rules")
        assert (rules.get_attribute("title") or "").startswith("news2-rcp-2017/r2+")
        expected = "NEWS2 (RCP 2017), bản sửa 2" if lang == "vi" else "NEWS2 (RCP 2017), revision 2"
        assert expected in rules.inner_text()
        assert_words_only(console, lang, "console, on a call")
        shot(console, f"words-console-{lang}")
        console.click("#tp-sign")
        console.wait_for_selector("#tp-next-step", timeout=20_000)
        assert_words_only(console, lang, "console, signed")
        console.click("#complete-call")
        console.wait_for_selector("#wrapup-panel:not(.hidden)", timeout=20_000)
        assert_words_only(console, lang, "console, wrap-up")
        assert errors == []
        ctx.close()
    finally:
        live.stop()


@pytest.mark.parametrize(
    ("width", "height"), [(1366, 768), (390, 844)], ids=["1366x768", "390x844"]
)
def test_the_timeline_names_the_hospital_and_the_chart_is_legible(
    browser: Any, width: int, height: int
) -> None:
    """A caller whose patient was sent to hospital earlier: the request and the bed held at the
    named hospital are on the timeline, the trend chart's text is at least 11 px on screen, and
    the shift card is out of the way during the call."""
    seed_world()
    live = LiveServer({"HOTLINE_WRAPUP_S": "30"}).start()
    try:
        seed_transfer(live.url)
        page = browser.new_context(viewport={"width": width, "height": height}).new_page()
        sign_in(page, f"{live.url}/static/console.html", "bsan")
        page.wait_for_selector("#console-view:not(.hidden)", timeout=20_000)
        # The shift card steps aside during a call.
        assert page.locator("#shift-panel").is_visible()
        take_call(page, live.url, f"wrap-{width}")
        assert not page.locator("#shift-panel").is_visible()

        # The timeline: the request and the bed held at the hospital, by name.
        held = page.locator("#tp-timeline .tp-step[data-step='held']")
        held.wait_for(timeout=20_000)
        assert HOSPITAL in held.inner_text()
        assert page.locator("#tp-timeline .tp-step[data-step='requested']").count() == 1

        # The chart's text, as drawn on screen (font size times the SVG's scale).
        sizes = page.evaluate(
            """() => [...document.querySelectorAll('#tp-timeline svg.tp-chart text')].map((t) =>
                parseFloat(getComputedStyle(t).fontSize) * t.ownerSVGElement.getScreenCTM().a)"""
        )
        assert sizes and min(sizes) >= 11, sizes

        # The call ends with nothing signed on it: wrap-up shows no transfer card for it.
        page.fill("input[name=respiratory_rate]", "18")
        page.fill("input[name=spo2]", "97")
        page.wait_for_selector("#tp-news2-total", timeout=20_000)
        page.select_option("#disposition", "transfer")
        page.click("#complete-call")
        page.wait_for_selector("#wrapup-panel:not(.hidden)", timeout=20_000)
        assert not page.locator("#after-call-transfer").is_visible()
        shot(page, f"words-wrapup-none-{width}x{height}")
    finally:
        live.stop()


def test_a_transfer_signed_on_the_call_is_followed_after_it(browser: Any) -> None:
    """Signed during the call, matched, accepted and admitted while the doctor wraps up: the card
    after the call follows each step with the hospital's name, in Vietnamese."""
    seed_world(demo=False)
    live = LiveServer({"HOTLINE_WRAPUP_S": "60"}).start()
    try:
        # The patient exists, scored at home earlier; tonight she is worse.
        h = token(live.url, "bsan")
        with httpx.Client(base_url=live.url, timeout=30) as http:
            res = http.post(
                "/api/v1/triage/patients",
                json={"full_name": NAME, "phones": [CALLER], "age_years": 61, "sex": "female"},
                headers=h,
            )
            assert res.status_code == 201, res.text
        page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
        sign_in(page, f"{live.url}/static/console.html", "bsan")
        page.wait_for_selector("#console-view:not(.hidden)", timeout=20_000)
        take_call(page, live.url, "wrap-signed")
        for name, value in (("respiratory_rate", "26"), ("spo2", "92"), ("pulse", "112")):
            page.fill(f"input[name={name}]", value)
        page.wait_for_selector("#tp-recommendation.tp-rec-transfer", timeout=20_000)
        page.click("#tp-sign")
        page.wait_for_selector("#tp-transfer-status", timeout=20_000)

        from triage.models import Transfer

        def request_id() -> str | None:
            with unit_of_work() as s:
                tr = s.query(Transfer).one_or_none()
                return tr.transfer_request_id if tr else None

        rid = wait_for(request_id, timeout=20, what="the transfer request")
        assert jobs.match_request(rid) == "held"
        page.wait_for_selector("#tp-transfer-status[data-status='held']", timeout=20_000)
        assert HOSPITAL in page.inner_text("#tp-transfer-hospital")
        page.locator("#tp-timeline .tp-step[data-step='held']", has_text=HOSPITAL).wait_for(
            timeout=20_000
        )

        page.click("#complete-call")
        page.wait_for_selector("#wrapup-panel:not(.hidden)", timeout=20_000)
        card = page.locator("#after-call-transfer")
        assert card.is_visible()
        assert NAME in card.inner_text() and HOSPITAL in card.inner_text()
        assert page.inner_text("#after-call-status") == "đang giữ giường"

        hospital_step(live.url, rid, "accept")
        page.wait_for_selector("#after-call-status[data-status='accepted']", timeout=20_000)
        hospital_step(live.url, rid, "admit")
        page.wait_for_selector("#after-call-status[data-status='admitted']", timeout=20_000)
        steps = page.locator("#after-call-transfer .tp-step")
        kinds = [steps.nth(i).get_attribute("data-step") for i in range(steps.count())]
        assert kinds == ["admitted", "accepted", "held", "requested"], kinds
        assert HOSPITAL in page.inner_text("#after-call-transfer .tp-step[data-step='admitted']")
        assert page.locator("#wrapup-panel").is_visible()
        assert_words_only(page, "vi", "console after the call")
        shot(page, "words-console-wrapup-transfer")
    finally:
        live.stop()


def test_the_dashboard_says_it_is_reconnecting_while_the_server_is_down(browser: Any) -> None:
    seed_branches()
    make_user("giamsat", "supervisor")
    live = LiveServer().start()
    try:
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        sign_in(page, f"{live.url}/static/dashboard.html", "giamsat")
        page.wait_for_selector("#live-state:not(.down)", timeout=20_000)
        banner = page.locator("#reconnect-banner")
        assert not banner.is_visible()

        live.stop()
        banner.wait_for(state="visible", timeout=20_000)
        assert banner.inner_text() == "Đang kết nối lại… Số liệu trên trang có thể đã cũ."
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "words-dashboard-reconnecting")

        live.start()
        banner.wait_for(state="hidden", timeout=30_000)
        page.wait_for_selector("#live-state:not(.down)", timeout=20_000)

        # The supervisor's polling page says the same while its polls fail.
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        in_english(page)
        sign_in(page, f"{live.url}/static/supervisor.html", "giamsat")
        page.wait_for_selector("#board:not(.hidden)", timeout=20_000)
        banner = page.locator("#reconnect-banner")
        assert not banner.is_visible()
        live.stop()
        banner.wait_for(state="visible", timeout=20_000)
        assert banner.inner_text() == "Reconnecting… the figures may be out of date."
        # The browser's own "Failed to fetch" is not what a person reads.
        page.wait_for_function(
            "document.querySelector('#updated').textContent.includes('Cannot reach the server')",
            timeout=20_000,
        )
        live.start()
        banner.wait_for(state="hidden", timeout=30_000)
    finally:
        live.stop()
