"""The published bed-capacity code system, as a person reads it in a browser."""

from __future__ import annotations

from typing import Any

from tests.helpers import shot


def test_the_code_system_page_reads_vietnamese_first_and_links_its_json(
    browser: Any, live_server: Any
) -> None:
    page = browser.new_page(locale="vi-VN")
    page.goto(f"{live_server.url}/fhir/CodeSystem/bed-capacity", timeout=60_000)
    heading = page.locator("h1").inner_text()
    assert heading.startswith("Bộ mã công suất giường bệnh")
    rows = page.locator("tbody tr")
    assert rows.count() == 16  # 7 bed types, 5 counts, 4 facility statuses
    oxygen = page.locator("tr", has_text="numO2Beds").inner_text()
    assert "Giường có thở oxy" in oxygen and "Beds with oxygen" in oxygen
    shot(page, "fhir-code-system")
    page.click("text=CodeSystem JSON")
    assert '"resourceType":"CodeSystem"' in page.locator("body").inner_text()
