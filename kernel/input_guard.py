"""Text no field may carry, refused once for every route: NUL bytes and lone surrogates.

PostgreSQL cannot store a NUL in text, Redis and the drivers cannot encode a lone UTF-16
surrogate (JSON lets a client write one as ``"\\ud800"``), and bytes that are not UTF-8
cannot be anything a person typed. Rather than a rule on every field, this middleware looks
at the path, the query string and JSON, form and text bodies before any route runs, and
answers 422 with the usual envelope naming the field, so nothing is half-written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from pydantic import BeforeValidator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_UNSAFE = re.compile("[\x00\ud800-\udfff]")
RULE = "must be UTF-8 text without NUL characters or lone surrogates"
# Bodies larger than this are not read here (no route takes one); the route refuses them.
MAX_INSPECTED_BODY = 8 * 1024 * 1024


class Unsafe(Exception):
    def __init__(self, location: str, field: str) -> None:
        super().__init__(field)
        self.location = location
        self.field = field


def _check_text(value: str, location: str, field: str) -> None:
    if _UNSAFE.search(value):
        raise Unsafe(location, field)


def _utf8(raw: bytes, location: str, field: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unsafe(location, field) from None
    _check_text(text, location, field)
    return text


def _check_query(query: bytes, location: str) -> None:
    """Each name=value pair of a query string or form, percent-decoded, is checked alone."""
    for pair in query.split(b"&"):
        raw_name, _, raw_value = pair.partition(b"=")
        name_bytes = unquote_to_bytes(raw_name.replace(b"+", b" "))
        name = _utf8(name_bytes, location, location)
        _utf8(unquote_to_bytes(raw_value.replace(b"+", b" ")), location, name or location)


def _check_json(value: Any, field: str) -> None:
    if isinstance(value, str):
        _check_text(value, "body", field or "body")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{field}.{i}" if field else str(i))
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{field}.{key}" if field else str(key)
            _check_text(key, "body", name)
            _check_json(item, name)


def _check_body(body: bytes, content_type: str) -> None:
    if not body:
        return
    if content_type.startswith("application/json") or content_type.endswith("+json"):
        text = _utf8(body, "body", "body")
        try:
            value = json.loads(text)
        except ValueError:
            return  # not JSON at all: the route's validation names that
        _check_json(value, "")
    elif content_type.startswith("application/x-www-form-urlencoded"):
        _check_query(body, "form")
    elif content_type.startswith("text/"):
        _utf8(body, "body", "body")


def _refusal(problem: Unsafe) -> bytes:
    return json.dumps(
        {
            "error": "invalid_request",
            "detail": [
                {
                    "field": problem.field,
                    "rule": RULE,
                    "type": "unsafe_text",
                    "location": problem.location,
                }
            ],
        }
    ).encode()


class RefuseUnsafeText:
    """ASGI middleware: 422 for NUL bytes, lone surrogates or non-UTF-8 in any request text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        inspect_body = content_type.startswith(
            ("application/json", "application/x-www-form-urlencoded", "text/")
        ) or content_type.endswith("+json")
        try:
            raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogatepass")
            _utf8(unquote_to_bytes(raw_path), "path", "path")
            _check_query(scope.get("query_string", b""), "query")
        except Unsafe as problem:
            await _answer(send, problem, scope["path"])
            return
        if not inspect_body:
            await self.app(scope, receive, send)
            return
        body, messages = await _read_body(receive)
        if body is not None:
            try:
                _check_body(body, content_type)
            except Unsafe as problem:
                await _answer(send, problem, scope["path"])
                return
        await self.app(scope, _replay(messages, receive), send)


async def _read_body(receive: Receive) -> tuple[bytes | None, list[Message]]:
    """The whole body (None past the inspection limit) and the messages to hand on."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        size += len(message.get("body", b""))
        if size > MAX_INSPECTED_BODY:
            return None, messages
        if not message.get("more_body", False):
            return b"".join(m.get("body", b"") for m in messages), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


# Routes under a prefix that speak another error language (FHIR's OperationOutcome) register
# how they say it: (field, location, rule) -> (body, content type).
Refuser = Callable[[str, str, str], tuple[bytes, str]]
_REFUSERS: dict[str, Refuser] = {}


def refuse_with(prefix: str, refuser: Refuser) -> None:
    _REFUSERS[prefix] = refuser


async def _answer(send: Send, problem: Unsafe, path: str) -> None:
    body, content_type = _refusal(problem), "application/json"
    for prefix, refuser in _REFUSERS.items():
        if path.startswith(prefix):
            body, content_type = refuser(problem.field, problem.location, RULE)
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------- ISO times in queries

_ISO_START = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_only(value: object) -> object:
    """Refuse what pydantic would otherwise read as a time: a bare number (Unix seconds)."""
    if isinstance(value, str) and not _ISO_START.match(value):
        raise ValueError("must be an ISO-8601 date and time, e.g. 2021-08-01T08:00:00+07:00")
    return value


IsoDatetime = Annotated[datetime, BeforeValidator(_iso_only)]
