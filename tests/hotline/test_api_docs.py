"""/docs works with no internet: the explorer's page names only assets the app serves itself."""

from __future__ import annotations

import re
from typing import Any


def test_docs_page_and_its_assets_come_from_the_app(client: Any) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, page.text
    assert [u for u in urls if u.startswith(("http:", "https:", "//"))] == []
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert asset in urls
        res = client.get(asset)
        assert res.status_code == 200 and len(res.content) > 10_000
    assert client.get("/openapi.json").json()["info"]["title"] == "1022 hotline"


def test_favicon_is_served(client: Any) -> None:
    res = client.get("/favicon.ico")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("image/svg+xml")
    assert client.get("/static/favicon.svg").status_code == 200
