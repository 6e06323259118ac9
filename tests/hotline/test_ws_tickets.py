"""Websocket tickets: single use, short-lived, stored hashed; the token never rides in a URL."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from kernel.ws_tickets import TICKET_TTL_S
from tests.helpers import auth, make_user, seed_branches, token_for, wait_for, ws_ticket


@pytest.fixture
def doc(client: Any) -> str:
    seed_branches()
    make_user("doc", "doctor", branches={"3": 1})
    return token_for(client, "doc")


def _key(ticket: str) -> str:
    return "ws-ticket:" + hashlib.sha256(ticket.encode()).hexdigest()


def test_a_ticket_opens_one_socket_once(client: Any, doc: str, r: Any) -> None:
    ticket = ws_ticket(client, doc)
    assert r.get(ticket) is None and r.exists(_key(ticket))  # stored under its hash only
    assert 0 < r.ttl(_key(ticket)) <= TICKET_TTL_S
    with client.websocket_connect(f"/ws/console?ticket={ticket}") as ws:
        assert ws.receive_json()["type"] == "hello"
    assert not r.exists(_key(ticket))  # consumed
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(f"/ws/console?ticket={ticket}"),
    ):
        pass


def test_an_expired_ticket_is_refused_and_changes_nothing(client: Any, doc: str, r: Any) -> None:
    ticket = ws_ticket(client, doc)
    r.pexpire(_key(ticket), 1)
    wait_for(lambda: not r.exists(_key(ticket)), what="the ticket to expire")
    before = sorted(r.keys("*"))
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect(f"/ws/console?ticket={ticket}"),
    ):
        pass
    # No heartbeat, no presence: the refused console left Redis as it was.
    assert sorted(r.keys("*")) == before


def test_the_token_itself_no_longer_opens_a_socket(client: Any, doc: str) -> None:
    for path in (f"/ws/console?token={doc}", f"/ws/console?ticket={doc}"):
        with pytest.raises(WebSocketDisconnect), client.websocket_connect(path):
            pass


def test_tickets_need_a_signed_in_account(client: Any) -> None:
    assert client.post("/api/v1/ws-tickets").status_code == 401
    assert client.post("/api/v1/ws-tickets", headers=auth("junk")).status_code == 401
