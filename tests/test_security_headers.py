"""Every response carries the security headers; API answers are never cached."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import auth, login


def _assert_common(res: Any) -> None:
    assert res.headers["x-content-type-options"] == "nosniff"
    assert res.headers["x-frame-options"] == "DENY"
    assert res.headers["referrer-policy"] == "no-referrer"
    csp = res.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]


@pytest.mark.parametrize(
    "page", ["console.html", "dashboard.html", "supervisor.html", "dispatch.html"]
)
def test_pages_carry_the_policy(client: Any, page: str) -> None:
    res = client.get(f"/static/{page}")
    assert res.status_code == 200
    _assert_common(res)


def test_api_answers_and_refusals_are_not_cached(client: Any) -> None:
    doc = login(client, "doc")
    for res in (
        client.get("/api/v1/auth/me", headers=doc),  # personal data
        client.get("/api/v1/auth/me"),  # 401
        client.get("/api/v1/users", headers=auth("junk")),  # 401 / 405
        client.post("/api/v1/triage/patients", json={}, headers=doc),  # 422
        client.get("/api/v1/triage/patients/nobody", headers=doc),  # 404
    ):
        _assert_common(res)
        assert res.headers["cache-control"] == "no-store", res.request.url


def test_health_and_redirects_carry_the_headers(client: Any) -> None:
    for res in (client.get("/healthz"), client.get("/", follow_redirects=False)):
        _assert_common(res)
