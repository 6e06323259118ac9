"""Every HTTP route refuses a caller with no credentials, except the few meant to be public."""

from __future__ import annotations

import re

# The pages themselves are public files; everything they show comes from the API.
PUBLIC = {("GET", "/healthz"), ("POST", "/api/v1/auth/token"), ("GET", "/")}
PUBLIC |= {("GET", "/healthz/live"), ("GET", "/healthz/ready")}
# FHIR clients read what a server serves and the codes it uses before they sign in.
PUBLIC |= {("GET", "/fhir/metadata"), ("GET", "/fhir/CodeSystem/bed-capacity")}
# The voice provider's requests carry its signature instead of a token: 403 without one.
PROVIDER_SIGNED = "/api/v1/voice/twiml/"


def test_no_route_answers_an_anonymous_caller(client):
    checked = 0
    for route_path, operations in client.app.openapi()["paths"].items():
        path = re.sub(r"\{[^}]+\}", "x1", route_path)
        for method in operations:
            method = method.upper()
            if (method, route_path) in PUBLIC:
                continue
            res = client.request(method, path, json={})
            if route_path.startswith(PROVIDER_SIGNED):
                assert res.status_code == 403, f"{method} {route_path} answered {res.status_code}"
                assert res.json()["error"] == "bad_signature"
                checked += 1
                continue
            assert res.status_code == 401, f"{method} {route_path} answered {res.status_code}"
            checked += 1
    assert checked > 50  # the walk really covered the API


def test_public_routes_are_the_expected_few(client):
    assert client.get("/healthz").status_code == 200
    res = client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x" * 8})
    assert res.status_code == 401
