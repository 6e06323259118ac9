"""Headless Chromium for the console tests: the browser tests' marker and one launch recipe."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CHROMIUM


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.browser)
            if not os.path.exists(CHROMIUM):
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is not installed"))


@pytest.fixture
def strict_browser() -> Iterator[Any]:
    """Chromium enforcing the pages' Content-Security-Policy (tests/browser/test_csp.py)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


class _CspBypassing:
    """Playwright's wait_for_function evaluates its predicate with eval, which the pages' CSP
    (script-src 'self') forbids; the page tests' own probes bypass the CSP, the pages' code
    does not need to (test_csp.py proves it under the CSP)."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def new_context(self, **kw: Any) -> Any:
        return self._browser.new_context(**{"bypass_csp": True, **kw})

    def new_page(self, **kw: Any) -> Any:
        return self._browser.new_page(**{"bypass_csp": True, **kw})

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


@pytest.fixture
def browser(strict_browser: Any) -> Any:
    return _CspBypassing(strict_browser)
