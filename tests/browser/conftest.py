"""Headless Chromium for the console tests: one launch recipe, one place for screenshots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PASSWORD, ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.browser)
            if not os.path.exists(CHROMIUM):
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} is not installed"))


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def in_english(page_or_context: Any) -> None:
    """Open the pages in English (they start in Vietnamese) before the next navigation."""
    page_or_context.add_init_script("localStorage.setItem('hotline.lang', 'en')")


def sign_in(page: Any, url: str, username: str, password: str = PASSWORD) -> None:
    """Open a page and submit its sign-in form; the caller waits for what should follow."""
    page.goto(url)
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#signin-form button[type=submit]")


def shot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under test-artifacts/ for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
