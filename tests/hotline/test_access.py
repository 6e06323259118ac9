"""Who may do what: sign-in, role refusals, websocket authentication, health."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.helpers import (
    PASSWORD,
    arrive,
    auth,
    make_user,
    seed_branches,
    signed_post,
    token_for,
    ws_ticket,
)


def test_sign_in_and_wrong_password(client):
    make_user("sup", "supervisor")
    res = client.post("/api/v1/auth/token", data={"username": "sup", "password": PASSWORD})
    assert res.status_code == 200 and res.json()["token_type"] == "bearer"
    bad = client.post("/api/v1/auth/token", data={"username": "sup", "password": "wrong-pass"})
    assert bad.status_code == 401
    nobody = client.post("/api/v1/auth/token", data={"username": "ghost", "password": PASSWORD})
    assert nobody.status_code == 401


def test_passwords_are_stored_hashed(client):
    from sqlalchemy import select

    from kernel.accounts import User
    from kernel.db import unit_of_work

    make_user("hashme", "doctor")
    with unit_of_work() as s:
        stored = s.scalar(select(User.password_hash).where(User.username == "hashme"))
    assert PASSWORD not in stored and stored.startswith("$argon2")


def test_routes_need_a_token(client):
    assert client.get("/api/v1/branches").status_code == 401
    assert client.put("/api/v1/doctors/me/presence", json={"state": "available"}).status_code == 401
    assert client.get("/api/v1/branches", headers=auth("not-a-jwt")).status_code == 401


def test_doctor_cannot_use_admin_or_supervisor_routes(client):
    seed_branches()
    make_user("doc", "doctor", branches={"3": 1})
    token = token_for(client, "doc")
    res = client.post(
        "/api/v1/branches", headers=auth(token), json={"digit": "7", "name": "x", "skill": "x"}
    )
    assert res.status_code == 403 and res.json()["error"] == "role_required"
    assert (
        client.post(
            "/api/v1/users",
            headers=auth(token),
            json={"username": "evil", "password": "12345678", "role": "admin"},
        ).status_code
        == 403
    )
    assert client.get("/api/v1/branches/3/queue", headers=auth(token)).status_code == 403


def test_supervisor_is_not_a_doctor(client):
    seed_branches()
    make_user("sup", "supervisor")
    token = token_for(client, "sup")
    res = client.put(
        "/api/v1/doctors/me/presence", json={"state": "available"}, headers=auth(token)
    )
    assert res.status_code == 403


def test_admin_creates_accounts(client):
    make_user("root", "admin")
    token = token_for(client, "root")
    res = client.post(
        "/api/v1/users",
        headers=auth(token),
        json={"username": "newdoc", "password": "long-enough-pw", "role": "doctor"},
    )
    assert res.status_code == 201
    dup = client.post(
        "/api/v1/users",
        headers=auth(token),
        json={"username": "newdoc", "password": "long-enough-pw", "role": "doctor"},
    )
    assert dup.status_code == 409
    short = client.post(
        "/api/v1/users",
        headers=auth(token),
        json={"username": "x", "password": "short", "role": "doctor"},
    )
    assert short.status_code == 422 and short.json()["detail"][0]["field"] == "password"


def test_websocket_needs_a_doctor_token(client):
    seed_branches()
    make_user("sup", "supervisor")
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/console"):
        pass
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("/ws/console?token=junk&ticket=junk"),
    ):
        pass
    sup = token_for(client, "sup")
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(f"/ws/console?ticket={ws_ticket(client, sup)}"),
    ):
        pass


def test_websocket_pushes_offers_to_the_doctor(client):
    seed_branches()
    make_user("doc", "doctor", branches={"3": 1})
    token = token_for(client, "doc")
    with client.websocket_connect(f"/ws/console?ticket={ws_ticket(client, token)}") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["state"] == "offline"
        client.put("/api/v1/doctors/me/presence", json={"state": "available"}, headers=auth(token))
        call_id = arrive(client, "ws-1").json()["call_id"]
        for _ in range(20):
            msg = ws.receive_json()
            if msg["type"] == "offer":
                break
        assert msg["call_id"] == call_id and msg["branch"] == "3"
        assert msg["caller"] == "0901234567" and 0 < msg["expires_in_s"] <= 15
        signed_post(client, "/api/v1/telephony/calls/ws-1/hangup")
        for _ in range(20):
            msg = ws.receive_json()
            if msg["type"] == "offer_withdrawn":
                break
        assert msg["offer_id"] and msg["reason"] == "caller_hung_up"


def test_health(client):
    res = client.get("/healthz")
    assert res.status_code == 200
    assert res.json() == {"status": "ok", "database": "ok", "redis": "ok"}
