"""The TwiML endpoints a cloud voice number calls, and where each doctor's line rings.

Flow (the provider follows the TwiML each answer returns):
  incoming  -> greeting and keypad menu (<Gather numDigits=1 action=menu>)
  menu      -> the call is received by the call-centre core (hotline.calls.receive, idempotent
               by CallSid) and waits: <Enqueue waitUrl=wait action=leave>
  wait      -> polled while the caller waits: position and expected wait when they change or
               every HOTLINE_VOICE_ANNOUNCE_EVERY_S, a key for a call-back (wait/key), <Leave/>
               once a doctor accepted on the console
  leave     -> the <Enqueue> action: <Dial> the accepting doctor (phone, or browser client),
               with a whisper naming the branch (whisper); a hang-up in line abandons the call
  dialed    -> the <Dial> action: not answered or busy puts the call back at the head of its
               queue; answered and ended ends the call for the doctor (wrap-up)
  status    -> the provider's status callbacks: the call-centre state follows the line
Every request must carry a valid X-Twilio-Signature over HOTLINE_PUBLIC_URL + path + form.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from hotline import calls, doctors
from hotline.models import Branch, Call, Doctor
from hotline.routing import keys
from hotline.routing.router import router_for
from hotline.vocab import CallDirection, CallStatus, ReceiptStatus, RejectReason
from hotline.voice import line, prompts
from kernel import events
from kernel.accounts import Principal, Role
from kernel.deps import RedisDep, SessionDep, require_roles
from kernel.errors import Conflict, Forbidden, NotFound
from kernel.settings import get_settings

TWIML = "/api/v1/voice/twiml"
router = APIRouter(prefix="/api/v1/voice")
M = TypeVar("M", bound=BaseModel)

SID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
# E.164 or national digits; providers report a withheld number as a word.
CALLER_PATTERN = r"^(\+?[0-9]{3,20}|anonymous|restricted|unknown)$"
ENDED_LINE = ("completed", "busy", "no-answer", "failed", "canceled")
# How long (s) the line waits for an acceptance Redis decided to be committed before ringing.
ACCEPT_WRITE_WAIT_S = 10


# --------------------------------------------------------------------------- authenticity


async def provider_form(
    request: Request, x_twilio_signature: Annotated[str | None, Header()] = None
) -> dict[str, str]:
    """The form parameters, once X-Twilio-Signature checks out (403 otherwise).

    The provider signs the URL it called; behind a proxy the host differs, so the URL is
    rebuilt from HOTLINE_PUBLIC_URL.
    """
    s = get_settings()
    try:
        form = await request.form()
    except Exception:
        form = None
    params = {k: v for k, v in (form.multi_items() if form else []) if isinstance(v, str)}
    url = s.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    valid = bool(
        s.twilio_auth_token
        and x_twilio_signature
        and form is not None
        and RequestValidator(s.twilio_auth_token).validate(url, params, x_twilio_signature)
    )
    if not valid:
        raise Forbidden(
            "X-Twilio-Signature is missing or does not match this URL and form",
            code="bad_signature",
        )
    return params


ProviderForm = Annotated[dict[str, str], Depends(provider_form)]


class VoiceParams(BaseModel):
    # Providers send many more parameters than the line reads.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    CallSid: str = Field(pattern=SID_PATTERN)


class IncomingParams(VoiceParams):
    From: str = Field(pattern=CALLER_PATTERN)
    To: str = Field(default="", max_length=64)


class MenuParams(IncomingParams):
    Digits: str = Field(default="", pattern=r"^[0-9*#]{0,8}$")


class KeyParams(VoiceParams):
    Digits: str = Field(default="", pattern=r"^[0-9*#]{0,8}$")


class QueueParams(VoiceParams):
    QueueResult: str = Field(default="leave", pattern=r"^[a-z-]{1,32}$")


class DialParams(VoiceParams):
    DialCallStatus: Literal["completed", "answered", "busy", "no-answer", "failed", "canceled"]


class StatusParams(VoiceParams):
    CallStatus: Literal[
        "queued",
        "initiated",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "no-answer",
        "failed",
        "canceled",
    ]


def parse(model: type[M], form: dict[str, str]) -> M:
    try:
        return model.model_validate(form)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("form", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


# --------------------------------------------------------------------------- TwiML helpers


def url(path: str, **query: str | int) -> str:
    base = get_settings().public_url.rstrip("/") + TWIML + path
    if query:
        base += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return base


def twiml(resp: VoiceResponse) -> Response:
    return Response(content=str(resp), media_type="application/xml")


def _branches(session: Session) -> list[Branch]:
    return list(
        session.scalars(select(Branch).where(Branch.active.is_(True)).order_by(Branch.digit))
    )


def _name(branch: Branch, language: str) -> str:
    return branch.name_vi or branch.name if language == "vi" else branch.name


def _menu(resp: VoiceResponse, session: Session, attempt: int) -> None:
    gather = Gather(num_digits=1, action=url("/menu", attempt=attempt), method="POST", timeout=6)
    for b in _branches(session):
        lang = prompts.language_or_default(b.language)
        prompts.speak(
            gather,
            lang,
            "menu_item",
            audio=f"menu_item-{b.digit}",
            digit=b.digit,
            name=_name(b, lang),
        )
    resp.append(gather)
    # No key pressed: the menu request comes with no digits, and counts as an attempt.
    resp.redirect(url("/menu", attempt=attempt), method="POST")


def _enqueue(resp: VoiceResponse, branch: str) -> None:
    resp.enqueue(
        f"hotline-{branch}",
        wait_url=url("/wait"),
        wait_url_method="POST",
        action=url("/leave"),
        method="POST",
    )


def _goodbye(resp: VoiceResponse, language: str, key: str = "ended") -> Response:
    prompts.speak(resp, language, key)
    resp.hangup()
    return twiml(resp)


def _known_call(session: Session, sid: str) -> Call:
    call = calls.find_call_by_provider_id(session, sid)
    if call is None:
        raise NotFound(f"no call with CallSid {sid!r}", code="call_not_found")
    return call


def _line(session: Session, r: Any, sid: str) -> line.Line:
    found = line.line_for(session, r, sid)
    if found is None:
        raise NotFound(f"no call with CallSid {sid!r}", code="call_not_found")
    return found


# --------------------------------------------------------------------------- the call


@router.post("/twiml/incoming", tags=["voice"], response_class=Response)
def incoming(session: SessionDep, r: RedisDep, form: ProviderForm) -> Response:
    """The number's voice URL: greeting, then the keypad menu of the open branches."""
    p = parse(IncomingParams, form)
    line.mark_seen(r, p.CallSid)
    resp = VoiceResponse()
    lang = prompts.language_or_default(get_settings().voice_language)
    prompts.speak(resp, lang, "greeting")
    _menu(resp, session, 1)
    return twiml(resp)


@router.post("/twiml/menu", tags=["voice"], response_class=Response)
def menu(
    session: SessionDep,
    r: RedisDep,
    form: ProviderForm,
    attempt: Annotated[int, Query(ge=1, le=20)] = 1,
) -> Response:
    """A key pressed at the menu: the branch's line, or the menu again (a few times)."""
    p = parse(MenuParams, form)
    resp = VoiceResponse()
    default = prompts.language_or_default(get_settings().voice_language)
    branch = session.scalar(select(Branch).where(Branch.digit == p.Digits, Branch.active.is_(True)))
    if branch is None:
        if attempt >= get_settings().voice_menu_attempts:
            return _goodbye(resp, default, "goodbye")
        if p.Digits:
            prompts.speak(resp, default, "menu_invalid")
        _menu(resp, session, attempt + 1)
        return twiml(resp)
    lang = prompts.language_or_default(branch.language)
    receipt = calls.receive(
        session, r, provider_call_id=p.CallSid, caller=p.From, digits=branch.digit
    )
    call = session.get(Call, receipt.call_id)
    assert call is not None
    line.remember(r, p.CallSid, call, lang)
    if receipt.status == ReceiptStatus.REJECTED:
        if receipt.reason == RejectReason.BRANCH_CLOSED:
            prompts.speak(
                resp,
                lang,
                "closed",
                audio=f"closed-{branch.digit}",
                name=_name(branch, lang),
                opens=branch.opens_at,
                closes=branch.closes_at,
            )
            resp.hangup()
            return twiml(resp)
        gather = Gather(num_digits=1, action=url("/full"), method="POST", timeout=6)
        prompts.speak(gather, lang, "full")
        resp.append(gather)
        return _goodbye(resp, lang, "goodbye")
    if receipt.status in (ReceiptStatus.QUEUED, ReceiptStatus.CONNECTED):
        prompts.speak(resp, lang, "hold")
        _enqueue(resp, branch.digit)
        return twiml(resp)
    return _goodbye(resp, lang)


@router.post("/twiml/full", tags=["voice"], response_class=Response)
def full_queue_callback(session: SessionDep, r: RedisDep, form: ProviderForm) -> Response:
    """A caller turned away by a full queue pressed 1: a call-back task is recorded."""
    p = parse(KeyParams, form)
    call = _known_call(session, p.CallSid)
    lang = prompts.language_or_default(call.branch.language)
    resp = VoiceResponse()
    if p.Digits != "1" or call.reject_reason != RejectReason.QUEUE_FULL:
        return _goodbye(resp, lang, "goodbye")
    pcid = f"callback:{call.id}"
    task = calls.find_call_by_provider_id(session, pcid)
    if task is None:
        task = calls.register_call(
            session,
            provider_call_id=pcid,
            caller=call.caller,
            branch=call.branch,
            direction=CallDirection.CALLBACK,
            priority=(calls.Priority.RETURNING, "asked for a call-back, the line was full"),
            origin_call_id=call.id,
        )
        session.commit()  # durable before Redis hears of it, as every call
        calls.route_call(session, r, task)
    if task.status == CallStatus.REJECTED:
        # The queue is still full (a call-back counts against it too): promise nothing.
        return _goodbye(resp, lang, "full_call_later")
    return _goodbye(resp, lang, "callback_recorded")


@router.post("/twiml/wait", tags=["voice"], response_class=Response)
def wait(session: SessionDep, r: RedisDep, form: ProviderForm) -> Response:
    """Polled while the caller waits; reads Redis only (the database only if Redis lost the
    call). Leaves the queue once a doctor has accepted."""
    p = parse(VoiceParams, form)
    ln = _line(session, r, p.CallSid)
    view = line.wait_view(r, ln)
    resp = VoiceResponse()
    status = view.status
    if status is None:
        # Redis does not hold the call: ended, or lost and about to be rebuilt.
        call = _known_call(session, p.CallSid)
        status = call.status if call.status in calls.WAITING_CALL_STATUSES else None
        if status is None:
            resp.leave()
            return twiml(resp)
    if status in (CallStatus.CONNECTED, CallStatus.CALLBACK_PENDING):
        resp.leave()
        return twiml(resp)
    pause = get_settings().voice_wait_pause_s
    gather = Gather(num_digits=1, action=url("/wait/key"), method="POST", timeout=pause)
    if view.announce:
        if view.position > 0:
            prompts.speak(gather, ln.language, "position", recorded=False, position=view.position)
            minutes = max(1, round(view.expected_wait_s / 60))
            prompts.speak(gather, ln.language, "expected_wait", recorded=False, minutes=minutes)
        else:
            prompts.speak(gather, ln.language, "hold")
        prompts.speak(gather, ln.language, "callback_hint")
    resp.append(gather)
    return twiml(resp)


@router.post("/twiml/wait/key", tags=["voice"], response_class=Response)
def wait_key(session: SessionDep, r: RedisDep, form: ProviderForm) -> Response:
    """A key pressed while waiting: a call-back, keeping the caller's place."""
    p = parse(KeyParams, form)
    call = _known_call(session, p.CallSid)
    lang = prompts.language_or_default(call.branch.language)
    resp = VoiceResponse()
    if call.callback_requested_at is not None:
        # Asked already (a retried request): nothing to do again.
        resp.leave()
        return twiml(resp)
    if p.Digits:
        try:
            calls.request_callback(session, r, call)
        except Conflict:
            # Not waiting any more (a doctor took it, or it was asked for already).
            resp.leave()
            return twiml(resp)
        prompts.speak(resp, lang, "callback_recorded")
        resp.leave()
    return twiml(resp)


@router.post("/twiml/leave", tags=["voice"], response_class=Response)
def left_queue(
    session: SessionDep,
    r: RedisDep,
    form: ProviderForm,
    tries: Annotated[int, Query(ge=0, le=100)] = 0,
) -> Response:
    """The <Enqueue> action: the caller left the wait, for a doctor, a call-back or a hang-up."""
    p = parse(QueueParams, form)
    call = _known_call(session, p.CallSid)
    lang = prompts.language_or_default(call.branch.language)
    resp = VoiceResponse()
    if p.QueueResult == "hangup":
        calls.hangup(session, r, call)
        return twiml(resp)
    st, _ = router_for(r).position(call.id)
    doctor_id = r.hget(keys.call(call.id), "doc") if st else None
    if st == CallStatus.CONNECTED and doctor_id:
        if call.answered_by != doctor_id and tries < ACCEPT_WRITE_WAIT_S:
            # Redis decided the acceptance but its write has not committed yet: ring the
            # doctor only once it has, so that a leg not answered is always written after it
            # (a write that never comes is the reconciliation's to repair; ring anyway).
            resp.pause(length=1)
            resp.redirect(url("/leave", tries=tries + 1), method="POST")
            return twiml(resp)
        return _dial(session, r, resp, call, str(doctor_id), lang)
    if st == CallStatus.CALLBACK_PENDING:
        resp.hangup()
        return twiml(resp)
    if st in (CallStatus.QUEUED, CallStatus.OFFERED):
        _enqueue(resp, call.branch.digit)
        return twiml(resp)
    return _goodbye(resp, lang)


def _dial(
    session: Session, r: Any, resp: VoiceResponse, call: Call, doctor_id: str, lang: str
) -> Response:
    doctor = session.get(Doctor, doctor_id)
    if doctor is None or not (doctor.client_identity or doctor.phone):
        # No line to ring: as if the doctor's phone did not answer.
        line.doctor_leg_unanswered(session, r, call, doctor_id, "no-line")
        prompts.speak(resp, lang, "doctor_unavailable")
        _enqueue(resp, call.branch.digit)
        return twiml(resp)
    prompts.speak(resp, lang, "connecting")
    dial = Dial(
        action=url("/dialed", doctor=doctor.id),
        method="POST",
        timeout=get_settings().voice_dial_timeout_s,
        answer_on_bridge=True,
    )
    whisper = url("/whisper", call=call.id)
    if doctor.client_identity:
        dial.client(doctor.client_identity, url=whisper, method="POST")
    else:
        dial.number(doctor.phone, url=whisper, method="POST")
    resp.append(dial)
    return twiml(resp)


@router.post("/twiml/whisper", tags=["voice"], response_class=Response)
def whisper(
    session: SessionDep,
    form: ProviderForm,
    call: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,40}$")],
) -> Response:
    """Said to the doctor when they pick up, before the caller is connected."""
    parse(VoiceParams, form)
    found = session.get(Call, call)
    if found is None:
        raise NotFound(f"no call {call!r}", code="call_not_found")
    lang = prompts.language_or_default(found.branch.language)
    resp = VoiceResponse()
    prompts.speak(resp, lang, "whisper", recorded=False, name=_name(found.branch, lang))
    return twiml(resp)


@router.post("/twiml/dialed", tags=["voice"], response_class=Response)
def dialed(
    session: SessionDep,
    r: RedisDep,
    form: ProviderForm,
    doctor: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,40}$")],
) -> Response:
    """The <Dial> action: how the doctor's leg went."""
    p = parse(DialParams, form)
    call = _known_call(session, p.CallSid)
    lang = prompts.language_or_default(call.branch.language)
    resp = VoiceResponse()
    if p.DialCallStatus in ("completed", "answered"):
        # They talked and the doctor's leg ended: the call ends for the doctor (wrap-up).
        calls.hangup(session, r, call)
        return _goodbye(resp, lang)
    line.doctor_leg_unanswered(session, r, call, doctor, p.DialCallStatus)
    st, _ = router_for(r).position(call.id)
    if st in (CallStatus.QUEUED, CallStatus.OFFERED, CallStatus.CONNECTED):
        prompts.speak(resp, lang, "doctor_unavailable")
        _enqueue(resp, call.branch.digit)
        return twiml(resp)
    return _goodbye(resp, lang)


@router.post("/twiml/status", tags=["voice"], status_code=204, response_class=Response)
def status_callback(session: SessionDep, r: RedisDep, form: ProviderForm) -> Response:
    """The provider's call status callback: a line that ended ends the call here."""
    p = parse(StatusParams, form)
    if p.CallStatus not in ENDED_LINE:
        return Response(status_code=204)
    call = calls.find_call_by_provider_id(session, p.CallSid)
    if call is None:
        if not line.was_seen(r, p.CallSid):
            raise NotFound(f"no call with CallSid {p.CallSid!r}", code="call_not_found")
        # Hung up at the menu, or before the menu's request reached us.
        calls.hangup_before_call(session, p.CallSid)
        return Response(status_code=204)
    calls.hangup(session, r, call)
    return Response(status_code=204)


# --------------------------------------------------------------------------- doctors' lines


class DoctorLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9]{3,20}$")
    client_identity: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")


class DoctorLineOut(BaseModel):
    doctor_id: str
    phone: str | None
    client_identity: str | None


def _line_out(doctor: Doctor) -> DoctorLineOut:
    return DoctorLineOut(
        doctor_id=doctor.id, phone=doctor.phone, client_identity=doctor.client_identity
    )


def _set_line(session: Session, doctor: Doctor, body: DoctorLineIn, actor: str) -> DoctorLineOut:
    doctor.phone, doctor.client_identity = body.phone, body.client_identity
    events.record(
        session,
        kind="doctor.line_set",
        subject_type="doctor",
        subject_id=doctor.id,
        actor=actor,
        data={"phone": body.phone, "client_identity": body.client_identity},
    )
    session.flush()
    return _line_out(doctor)


DoctorPrincipal = Annotated[Principal, Depends(require_roles(Role.DOCTOR))]
AdminPrincipal = Annotated[Principal, Depends(require_roles())]


@router.get("/doctors/me/line", response_model=DoctorLineOut, tags=["voice"])
def my_line(session: SessionDep, principal: DoctorPrincipal) -> DoctorLineOut:
    return _line_out(doctors.doctor_for_user(session, principal.id))


@router.put("/doctors/me/line", response_model=DoctorLineOut, tags=["voice"])
def set_my_line(
    session: SessionDep, principal: DoctorPrincipal, body: DoctorLineIn
) -> DoctorLineOut:
    """Where the voice line rings me: a browser client identity if set, else my phone."""
    doctor = doctors.doctor_for_user(session, principal.id)
    return _set_line(session, doctor, body, principal.actor)


@router.put("/doctors/{doctor_id}/line", response_model=DoctorLineOut, tags=["voice"])
def set_doctor_line(
    session: SessionDep, admin: AdminPrincipal, doctor_id: str, body: DoctorLineIn
) -> DoctorLineOut:
    doctor = session.get(Doctor, doctor_id)
    if doctor is None:
        raise NotFound(f"no doctor {doctor_id!r}", code="doctor_not_found")
    return _set_line(session, doctor, body, admin.actor)


class BranchLanguageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: str = Field(pattern=r"^[a-z]{2}$")


class BranchLanguageOut(BaseModel):
    digit: str
    language: str


@router.put("/branches/{digit}/language", response_model=BranchLanguageOut, tags=["voice"])
def set_branch_language(
    session: SessionDep, admin: AdminPrincipal, digit: str, body: BranchLanguageIn
) -> BranchLanguageOut:
    """The language a branch's voice prompts are spoken in (one with a prompt file)."""
    if body.language not in prompts.languages():
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "language"),
                    "msg": f"must be one of {', '.join(prompts.languages())}",
                    "type": "value_error",
                }
            ]
        )
    branch = session.scalar(select(Branch).where(Branch.digit == digit))
    if branch is None:
        raise NotFound(f"no branch {digit!r}", code="branch_not_found")
    branch.language = body.language
    events.record(
        session,
        kind="branch.language_set",
        subject_type="branch",
        subject_id=digit,
        actor=admin.actor,
        data={"language": body.language},
    )
    return BranchLanguageOut(digit=digit, language=body.language)


def install(app: FastAPI) -> None:
    """Add the voice line to the app: its routes, and the recorded prompts if configured."""
    app.include_router(router)
    folder = get_settings().voice_audio_dir
    if folder is not None and folder.is_dir():
        app.mount(prompts.AUDIO_ROUTE, StaticFiles(directory=folder), name="voice-audio")
