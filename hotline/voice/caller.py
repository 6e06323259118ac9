"""A caller on a voice provider's network, as far as this backend can tell: it signs its
requests like the provider and follows the TwiML it gets back, verb by verb, the way the
provider documents it. The simulator dials in with it, the tests drive the line with it.

Not a telephone network: speech is collected as text (``heard``), pauses are skipped (or
slept when ``pace`` is set), and the doctor's leg of a <Dial> answers what ``on_dial``
says ("completed" after a conversation, "no-answer", "busy", ...).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

TWIML = "/api/v1/voice/twiml"


@dataclass
class VoiceCaller:
    """One call. ``http``: an httpx.Client (or TestClient) on the app; ``public_url`` and
    ``auth_token``: what the provider knows (the URL it calls and the token it signs with)."""

    http: Any
    sid: str
    caller: str
    auth_token: str
    public_url: str
    to: str = "1022"
    keys: list[str] = field(default_factory=list)  # keys to press at the next <Gather>s
    on_dial: Callable[[str, str], str] = lambda kind, target: "completed"
    pace: float = 0.0  # seconds slept per second of <Pause>/<Gather timeout> (0: none)
    heard: list[str] = field(default_factory=list)
    whispers: list[str] = field(default_factory=list)
    dialled: list[tuple[str, str]] = field(default_factory=list)
    ended: bool = False
    # In line: the <Enqueue> being followed (its wait URL and action), if any.
    queue: tuple[str, str] | None = None
    left: bool = False  # the last wait document said <Leave/>
    status_code: int = 0

    # -- the provider's requests ------------------------------------------------------
    def params(self, **extra: str) -> dict[str, str]:
        base = {
            "CallSid": self.sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.caller,
            "To": self.to,
            "Direction": "inbound",
            "CallStatus": "in-progress",
        }
        return {**base, **extra}

    def post(self, url: str, params: dict[str, str]) -> ET.Element | None:
        """POST a form to a URL the way the provider does: signed over the full URL."""
        if url.startswith("/"):
            url = self.public_url.rstrip("/") + url
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        res = self.http.post(target, data=params, headers={"X-Twilio-Signature": signature})
        self.status_code = res.status_code
        if res.status_code >= 400:
            raise CallerError(res.status_code, res.text)
        if not res.content:
            return None
        return ET.fromstring(res.content)

    # -- the caller's actions ----------------------------------------------------------
    def dial_in(self) -> None:
        self.run(self.post(f"{TWIML}/incoming", self.params(CallStatus="ringing")))

    def press(self, *keys: str) -> None:
        self.keys.extend(keys)

    def poll(self) -> None:
        """One wait request while in line, and whatever its TwiML leads to."""
        assert self.queue is not None, "not in line"
        wait_url, _ = self.queue
        doc = self.post(wait_url, self.params(QueuePosition="1", QueueTime="0"))
        self.run_wait(doc)

    def wait_until(self, done: Callable[[], bool], *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"call {self.sid}: still waiting after {timeout}s"
            if self.queue is None:
                return
            self.poll()
            if not self.pace:
                time.sleep(0.02)

    def hang_up(self) -> None:
        """The caller puts the phone down: the queue's action, then the status callback."""
        if self.ended:
            return
        self.ended = True
        if self.queue is not None:
            _, action = self.queue
            self.queue = None
            self.post(action, self.params(QueueResult="hangup", CallStatus="completed"))
        self.status_callback("completed")

    def status_callback(self, status: str) -> None:
        self.post(f"{TWIML}/status", self.params(CallStatus=status))

    # -- following TwiML -----------------------------------------------------------------
    def run(self, doc: ET.Element | None) -> None:
        """Follow a document until it ends, hangs up or puts the caller in line."""
        while doc is not None and not self.ended:
            nxt: ET.Element | None = None
            for verb in doc:
                tag = verb.tag
                if tag in ("Say", "Play", "Pause"):
                    self._hear(verb)
                elif tag == "Gather":
                    got = self._gather(verb)
                    if got is not None:
                        nxt = got
                        break
                elif tag == "Redirect":
                    nxt = self.post(verb.text or "", self.params())
                    break
                elif tag == "Hangup":
                    self.ended = True
                    self.status_callback("completed")
                    return
                elif tag == "Enqueue":
                    self.queue = (verb.attrib["waitUrl"], verb.attrib["action"])
                    self.left = False
                    return
                elif tag == "Dial":
                    nxt = self._dial(verb)
                    break
            else:
                # The document ran out: the provider hangs up.
                self.ended = True
                self.status_callback("completed")
                return
            doc = nxt

    def run_wait(self, doc: ET.Element | None) -> None:
        """Follow a wait document (only Say, Play, Pause, Gather, Leave, Hangup count)."""
        assert self.queue is not None
        _, action = self.queue
        while doc is not None:
            nxt = None
            for verb in doc:
                if verb.tag in ("Say", "Play", "Pause"):
                    self._hear(verb)
                elif verb.tag == "Gather":
                    nxt = self._gather(verb)
                    if nxt is not None:
                        break
                elif verb.tag == "Leave":
                    self.left = True
                    self.queue = None
                    self.run(self.post(action, self.params(QueueResult="leave")))
                    return
                elif verb.tag == "Hangup":
                    self.queue = None
                    self.hang_up()
                    return
            doc = nxt

    def _hear(self, verb: ET.Element) -> None:
        if verb.tag == "Pause":
            if self.pace:
                time.sleep(float(verb.attrib.get("length", "1")) * self.pace)
            return
        self.heard.append((verb.text or "").strip())

    def _gather(self, verb: ET.Element) -> ET.Element | None:
        for inner in verb:
            self._hear(inner)
        if not self.keys:
            if self.pace:
                time.sleep(float(verb.attrib.get("timeout", "5")) * self.pace)
            return None  # timed out: the document goes on
        digits = self.keys.pop(0)
        return self.post(verb.attrib["action"], self.params(Digits=digits))

    def _dial(self, verb: ET.Element) -> ET.Element | None:
        target = verb[0]
        kind, who = target.tag, (target.text or "").strip()
        self.dialled.append((kind, who))
        outcome = self.on_dial(kind, who)
        if outcome in ("completed", "answered") and "url" in target.attrib:
            # The callee picked up: the provider plays the whisper to them first.
            whisper = self.post(target.attrib["url"], self.params(CallStatus="in-progress"))
            if whisper is not None:
                self.whispers += [(w.text or "").strip() for w in whisper if w.tag == "Say"]
        return self.post(verb.attrib["action"], self.params(DialCallStatus=outcome))


class CallerError(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
