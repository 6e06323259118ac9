"""Websocket tickets: the bearer token never rides in a URL (URLs land in access logs).

A signed-in page POSTs for a ticket with its bearer token, then opens the websocket with
only the ticket in the query. A ticket is random, lives TICKET_TTL_S seconds in Redis under
its SHA-256 (a Redis dump reveals no usable ticket), and is consumed by the first connection
that presents it: a ticket read from a log is already spent or expired.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel

from kernel.deps import CurrentPrincipal, RedisDep
from kernel.errors import Forbidden
from kernel.redisconn import get_redis

TICKET_TTL_S = 30

router = APIRouter(prefix="/api/v1", tags=["auth"])
_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def _key(ticket: str) -> str:
    return "ws-ticket:" + hashlib.sha256(ticket.encode("utf-8", "surrogatepass")).hexdigest()


class TicketOut(BaseModel):
    ticket: str
    expires_in_s: int = TICKET_TTL_S


@router.post(
    "/ws-tickets",
    status_code=201,
    response_model=TicketOut,
    responses={403: {"description": "API keys open no websocket"}},
)
def issue_ticket(
    principal: CurrentPrincipal, r: RedisDep, token: Annotated[str | None, Depends(_bearer)]
) -> TicketOut:
    """A single-use ticket, valid for 30 s, to open /ws/console or /ws/dashboard with."""
    if principal.via_api_key or not token:
        raise Forbidden("websockets are for signed-in accounts", code="account_required")
    ticket = secrets.token_urlsafe(32)
    r.set(_key(ticket), token, ex=TICKET_TTL_S)
    return TicketOut(ticket=ticket)


def redeem(ticket: str) -> str | None:
    """The bearer token a ticket stands for, once: the ticket is deleted as it is read."""
    if not ticket or len(ticket) > 128:
        return None
    token = get_redis().getdel(_key(ticket))
    return str(token) if token else None
