"""What the telephony gateway is told to do with a call's line: decided here, and only here.

The call centre reports a call's new status (queued, rejected, connected, completed);
``follow`` turns it into the gateway's instruction (hold, reject, bridge or dial, hang
up). The default driver records each instruction in the database, where a gateway or
the simulator reads them (GET /api/v1/telephony/instructions). A deployment with a
gateway that takes pushed instructions sets HOTLINE_TELEPHONY_OUTBOUND_URL: each
instruction is then also POSTed there after the transaction commits, signed like the
inbound webhooks.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from sqlalchemy.orm import Session

from hotline.models import Call, Doctor, GatewayInstruction
from hotline.vocab import CallDirection, CallStatus, GatewayAction
from kernel import events
from kernel.db import utcnow
from kernel.lean import insert_soon
from kernel.security import signed_headers
from kernel.settings import get_settings

log = logging.getLogger(__name__)


def follow(
    session: Session,
    call: Call,
    *,
    position: int | None = None,
    expected_wait_s: int | None = None,
    doctor: Doctor | None = None,
    line_open: bool = False,
) -> None:
    """Instruct the gateway for the call's current status, if that status needs the line.

    position / expected_wait_s: where a queued caller waits; doctor: who took the call;
    line_open: a completed call whose caller is still on the line (hang it up).
    """
    inbound = call.direction == CallDirection.INBOUND
    if call.status == CallStatus.REJECTED:
        _instruct(session, call, GatewayAction.REJECT, {"reason": call.reject_reason})
    elif call.status == CallStatus.QUEUED and inbound:
        params: dict[str, Any] = {"position": position, "expected_wait_s": expected_wait_s}
        _instruct(session, call, GatewayAction.HOLD, params)
    elif call.status == CallStatus.CONNECTED and doctor is not None:
        # A caller on hold is bridged to the doctor; a call-back or follow-up is dialled.
        action = GatewayAction.BRIDGE if inbound else GatewayAction.DIAL
        params = {"doctor_id": doctor.id, "doctor_name": doctor.full_name, "number": call.caller}
        _instruct(session, call, action, params)
    elif call.status == CallStatus.COMPLETED and line_open:
        _instruct(session, call, GatewayAction.HANGUP, {"reason": "completed_by_doctor"})


def _instruct(session: Session, call: Call, action: GatewayAction, params: dict[str, Any]) -> None:
    # One Core INSERT (or one for a batch): written once, not read back by this request.
    row = {
        "provider_call_id": call.provider_call_id,
        "call_id": call.id,
        "action": action,
        "params": params,
        "created_at": utcnow(),
    }
    insert_soon(session, GatewayInstruction, row)
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
    target = httpx.URL(url).raw_path.decode()
    headers = {"Content-Type": "application/json", **signed_headers("POST", target, body)}
    try:
        httpx.post(url, content=body, timeout=2.0, headers=headers)
    except httpx.HTTPError:
        # The instruction stays in the log, where the gateway can fetch it.
        log.warning("gateway did not take instruction for %s", url)
