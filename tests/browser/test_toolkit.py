"""The pages' shared toolkit in headless Chromium: both dictionaries complete, every page translated."""

from __future__ import annotations

from typing import Any

from tests.helpers import LiveServer, in_english

PAGES = ("console", "supervisor", "dashboard", "dispatch", "hospital")


def test_dictionaries_match_and_every_page_draws_in_both_languages(browser: Any) -> None:
    live = LiveServer().start()
    try:
        page = browser.new_page()
        page.goto(f"{live.url}/static/console.html")
        missing = page.evaluate(
            """async () => {
                const { vi, en } = await import('/static/translations.js');
                // Every key in both, vocabulary words too: an English page never falls back to a code.
                return {
                    english: Object.keys(vi).filter((k) => !(k in en)),
                    vietnamese: Object.keys(en).filter((k) => !(k in vi)),
                };
            }"""
        )
        assert missing == {"english": [], "vietnamese": []}
        message = page.evaluate(
            """async () => {
                const { ApiError } = await import('/static/toolkit.js');
                const detail = [{ field: 'spo2', rule: 'at most 100' }, { field: 'pulse', rule: 'required' }];
                return new ApiError(422, { error: 'vitals_out_of_range', detail }).message;
            }"""
        )
        # The fields in the page's words (Vietnamese here); the rule's English only in English.
        assert message == "Dữ liệu chưa hợp lệ: SpO₂ %; Mạch /phút"

        for english in (False, True):
            for name in PAGES:
                page = browser.new_page()
                if english:
                    in_english(page)
                complaints: list[str] = []
                page.on("pageerror", lambda e, c=complaints: c.append(str(e)))
                page.on(
                    "console",
                    lambda m, c=complaints: (
                        c.append(m.text) if m.type in ("error", "warning") else None
                    ),
                )
                page.goto(f"{live.url}/static/{name}.html")
                page.wait_for_selector("#signin-form")
                assert page.get_attribute("html", "lang") == ("en" if english else "vi")
                assert page.title().startswith("1022 — "), name
                assert page.inner_text("#signin-button") == ("Sign in" if english else "Đăng nhập")
                assert complaints == [], (name, complaints)
                page.close()
    finally:
        live.stop()
