"""Outbound instructions to the telephony gateway (bridge, dial, hold, reject, hang up).

The default driver records each instruction in the database, where a gateway or the
simulator reads them (GET /api/v1/telephony/instructions). A deployment with a gateway
that takes pushed instructions sets HOTLINE_TELEPHONY_OUTBOUND_URL: each instruction is
then also POSTed there after the transaction commits, signed like the inbound webhooks.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from sqlalchemy.orm import Session

from hotline.models import Call, GatewayInstruction
from kernel import events
from kernel.security import sign_body
from kernel.settings import get_settings

log = logging.getLogger(__name__)


def instruct(session: Session, call: Call, action: str, params: dict[str, Any]) -> None:
    row = GatewayInstruction(
        provider_call_id=call.provider_call_id, call_id=call.id, action=action, params=params
    )
    session.add(row)
    url = get_settings().telephony_outbound_url
    if url:
        body = json.dumps(
            {
                "provider_call_id": call.provider_call_id,
                "call_id": call.id,
                "action": action,
                "params": params,
            }
        ).encode()
        events.after_commit(session, lambda: _post(url, body))


def _post(url: str, body: bytes) -> None:
    try:
        httpx.post(
            url,
            content=body,
            timeout=2.0,
            headers={"Content-Type": "application/json", "X-Hotline-Signature": sign_body(body)},
        )
    except httpx.HTTPError:
        # The instruction stays in the log, where the gateway can fetch it.
        log.warning("gateway did not take instruction for %s", url)
