"""The doctor console's live channel: offers, withdrawals, presence and queue figures."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hotline import doctors, presence
from hotline.live import Outbox
from hotline.routes import console_state
from hotline.routing import keys
from kernel import ws_tickets
from kernel.accounts import Role
from kernel.db import SessionLocal
from kernel.deps import principal_for_token
from kernel.redisconn import get_redis

router = APIRouter()

QUEUE_PUSH_INTERVAL_S = 1.0
# The queue figures a process sends its consoles each second, at most: past this many
# consoles, each one hears them less often (every 5 s with 2,500 consoles), so the sends do
# not crowd out the offers on the event loop as the hotline grows.
QUEUE_PUSHES_PER_S = 500


PONG = json.dumps({"type": "pong"})


def figures_interval_s(consoles: int) -> float:
    """How often each of this many consoles of one process gets the queue figures."""
    return max(QUEUE_PUSH_INTERVAL_S, consoles / QUEUE_PUSHES_PER_S)


def _open_console(token: str) -> tuple[str, list[str], dict[str, Any]] | None:
    session = SessionLocal()
    try:
        principal = principal_for_token(session, token)
        if principal is None or principal.role is not Role.DOCTOR:
            return None
        try:
            doctor = doctors.doctor_for_user(session, principal.id)
        except Exception:
            return None
        r = get_redis()
        presence.heartbeat(r, doctor.id)
        hello = console_state(session, r, doctor).model_dump(mode="json")
        return doctor.id, list(doctors.doctor_branch_prefs(doctor)), hello
    finally:
        session.close()


def _open_console_by_ticket(ticket: str) -> tuple[str, list[str], dict[str, Any]] | None:
    token = ws_tickets.redeem(ticket)
    return _open_console(token) if token else None


@router.websocket("/ws/console")
async def console(ws: WebSocket, ticket: str = "") -> None:
    # Only a single-use ticket (POST /api/v1/ws-tickets) rides in the URL, never the token.
    opened = await asyncio.to_thread(_open_console_by_ticket, ticket) if ticket else None
    if opened is None:
        # Refuse before accepting: the handshake fails with HTTP 403.
        await ws.close(code=4401)
        return
    doctor_id, branches, hello = opened
    state = ws.app.state
    channel = keys.console_channel(doctor_id)
    await ws.accept()
    # The hello, then offers, withdrawals and figures, all through the outbox in the order
    # they came: the console's one sender.
    outbox = Outbox(ws.send_text)
    outbox.put(json.dumps({"type": "hello", **hello}))

    def deliver(message: dict[str, Any]) -> None:
        outbox.put(json.dumps(message))

    state.hub.listen(channel, deliver)
    state.open_consoles.add(ws)
    try:
        # The figures at once, then in turn (FiguresRound); while Redis is away, the round's.
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
            outbox.put(await state.figures.message(branches))
        state.figures_round.join(branches, outbox)
        while True:
            raw = await ws.receive_text()
            # Any message from the console proves it is alive (written in batches).
            state.heartbeats.beat(doctor_id)
            with contextlib.suppress(ValueError):
                msg = json.loads(raw)
                if isinstance(msg, dict) and msg.get("type") == "ping":
                    outbox.put(PONG)
    except WebSocketDisconnect:
        pass
    finally:
        state.open_consoles.discard(ws)
        state.figures_round.leave(outbox)
        state.hub.forget(channel, deliver)
        outbox.close()
