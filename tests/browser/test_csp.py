"""The console works under its Content-Security-Policy, and its websocket URL carries only a
single-use ticket, never the bearer token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import LiveServer, make_user, seed_branches, sign_in


@pytest.fixture
def server() -> Iterator[LiveServer]:
    seed_branches()
    live = LiveServer().start()
    yield live
    live.stop()


def test_console_runs_under_the_csp_with_a_ticketed_socket(
    server: LiveServer, strict_browser: Any
) -> None:
    make_user("dr_csp", "doctor", branches={"3": 1})
    page = strict_browser.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    sign_in(page, server.url + "/static/console.html", "dr_csp")
    page.wait_for_selector("#console-view:not(.hidden)", timeout=30_000)
    page.click("#go-available")
    page.wait_for_selector("#presence-state[data-state='available']", timeout=30_000)
    token = page.evaluate("sessionStorage.getItem('hotline.token')")
    assert token and sockets, sockets
    assert all("ticket=" in url and "token" not in url and token not in url for url in sockets)
    assert violations == []
