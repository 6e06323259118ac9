"""A telephone network and a room of doctors, played against the public APIs for demos and load.

Callers arrive per branch as a Poisson process and reach the backend only through its
public telephone side: by default the TwiML voice line, signed like the provider and
following the TwiML it answers (menu, wait polls, call-back key, dial); with
``--via json`` the signed JSON telephony webhooks. They hang up when their patience runs out. Virtual doctors
sign in, open the console websocket, go available, accept (or sometimes miss) offers,
talk for a random time and complete the call. Nothing here touches the database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from hotline.voice.caller import CallerError, VoiceCaller
from kernel.security import signed_headers
from kernel.settings import get_settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-url", default="http://127.0.0.1:8000")
    p.add_argument("--rates", default="3:6,4:2", help="calls per minute per branch, e.g. 3:6,4:2")
    p.add_argument(
        "--doctors",
        default="doctor3,doctor4,doctor5,doctor6",
        help="usernames of the doctor accounts to play (comma-separated)",
    )
    p.add_argument("--password", default="hotline1022")
    p.add_argument("--duration", type=float, default=60, help="seconds; 0 runs until stopped")
    p.add_argument("--talk-mean", type=float, default=25, help="mean talk time, seconds")
    p.add_argument("--patience-mean", type=float, default=60, help="mean caller patience, s")
    p.add_argument("--miss-rate", type=float, default=0.1, help="share of offers left to expire")
    p.add_argument(
        "--callback-rate",
        type=float,
        default=0.05,
        help="share of callers who ask for a call-back instead of waiting",
    )
    p.add_argument(
        "--via",
        choices=("twiml", "json"),
        default="twiml",
        help="the voice line's TwiML endpoints (default) or the JSON gateway webhooks",
    )
    p.add_argument(
        "--phone-miss-rate",
        type=float,
        default=0.05,
        help="share of doctors' phone legs that ring out unanswered (TwiML only)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--quiet-progress", action="store_true", help="a progress line every 30 s")


@dataclass
class Tally:
    arrived: int = 0
    rejected: int = 0
    answered: int = 0
    abandoned: int = 0
    callbacks: int = 0
    missed_offers: int = 0
    completed: int = 0
    waits: list[float] = field(default_factory=list)
    answered_at: dict[str, float] = field(default_factory=dict)


class Gateway:
    """The simulated telephone network's side of the webhook API."""

    def __init__(self, client: httpx.AsyncClient, tally: Tally, secret: str):
        self.client = client
        self.tally = tally
        self.secret = secret

    async def post(self, path: str, payload: dict[str, Any] | None = None) -> httpx.Response:
        body = json.dumps(payload or {}).encode()
        return await self.client.post(
            path,
            content=body,
            headers={
                **signed_headers("POST", path, body, secret=self.secret),
                "Content-Type": "application/json",
            },
        )

    async def caller(self, branch: str, patience: float, wants_callback: bool) -> None:
        pcid = f"sim-{uuid.uuid4().hex[:16]}"
        number = "09" + "".join(random.choice("0123456789") for _ in range(8))
        start = time.monotonic()
        res = await self.post(
            "/api/v1/telephony/calls",
            {"provider_call_id": pcid, "caller": number, "digits": branch},
        )
        self.tally.arrived += 1
        if res.status_code != 200 or res.json()["status"] != "queued":
            self.tally.rejected += 1
            return
        call_id = res.json()["call_id"]
        if wants_callback:
            await asyncio.sleep(min(patience, 5))
            if call_id not in self.tally.answered_at:
                await self.post(f"/api/v1/telephony/calls/{pcid}/callback")
                self.tally.callbacks += 1
                return
        deadline = start + patience
        while time.monotonic() < deadline:
            if call_id in self.tally.answered_at:
                self.tally.waits.append(self.tally.answered_at[call_id] - start)
                return
            await asyncio.sleep(0.2)
        if call_id not in self.tally.answered_at:
            r = await self.post(f"/api/v1/telephony/calls/{pcid}/hangup")
            if r.status_code == 200 and r.json()["status"] == "abandoned":
                self.tally.abandoned += 1


class VoiceNetwork:
    """The simulated telephone network as a cloud voice provider: TwiML, signed requests."""

    def __init__(self, base: str, tally: Tally, args: argparse.Namespace):
        self.base, self.tally, self.args = base, tally, args
        self.pool = ThreadPoolExecutor(max_workers=128, thread_name_prefix="voice-caller")
        self.stopping = threading.Event()  # the run is over: callers still waiting hang up

    async def caller(self, branch: str, patience: float, wants_callback: bool) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.pool, self._call, branch, patience, wants_callback)

    def _call(self, branch: str, patience: float, wants_callback: bool) -> None:
        settings = get_settings()
        number = "+849" + "".join(random.choice("0123456789") for _ in range(8))
        talk_mean = self.args.talk_mean

        def doctor_phone(kind: str, target: str) -> str:
            if random.random() < self.args.phone_miss_rate:
                return "no-answer"
            time.sleep(random.expovariate(1 / talk_mean))
            return "completed"

        with httpx.Client(base_url=self.base, timeout=10) as http:
            c = VoiceCaller(
                http,
                sid=f"CAsim{uuid.uuid4().hex}",
                caller=number,
                auth_token=settings.twilio_auth_token,
                public_url=settings.public_url,
                keys=[branch],
                on_dial=doctor_phone,
                pace=1.0,
            )
            start = time.monotonic()
            try:
                c.dial_in()
                self.tally.arrived += 1
                if c.queue is None:
                    self.tally.rejected += 1
                    return
                while c.queue is not None and not c.ended:
                    waited = time.monotonic() - start
                    if wants_callback and waited > min(patience, 5):
                        c.press("1")
                        c.poll()
                        self.tally.callbacks += 1
                        return
                    if waited > patience or self.stopping.is_set():
                        c.hang_up()
                        self.tally.abandoned += 1
                        return
                    c.poll()
                if c.dialled:
                    self.tally.waits.append(time.monotonic() - start)
            except (httpx.HTTPError, CallerError):
                return  # the API went away (the demo stopping)


class VirtualDoctor:
    def __init__(
        self, base: str, username: str, password: str, args: argparse.Namespace, tally: Tally
    ):
        self.base, self.username, self.password = base, username, password
        self.args, self.tally = args, tally
        self.token = ""
        self.busy = False
        self.calls: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=10) as client:
            res = await client.post(
                "/api/v1/auth/token", data={"username": self.username, "password": self.password}
            )
            if res.status_code != 200:
                print(f"simulator: cannot sign in as {self.username}: {res.text}")
                return
            self.token = res.json()["access_token"]
            auth = {"Authorization": f"Bearer {self.token}"}
            ws_base = self.base.replace("http", "ws", 1) + "/ws/console?ticket="
            while not stop.is_set():
                try:
                    # A fresh single-use ticket per connection: the token stays out of URLs.
                    got = await client.post("/api/v1/ws-tickets", headers=auth)
                    got.raise_for_status()
                    async with websockets.connect(ws_base + got.json()["ticket"]) as ws:
                        await client.put(
                            "/api/v1/doctors/me/presence", json={"state": "available"}, headers=auth
                        )
                        beat = asyncio.create_task(self._heartbeat(ws))
                        try:
                            await self._serve(ws, client, auth, stop)
                        finally:
                            beat.cancel()
                except (OSError, httpx.HTTPError, websockets.WebSocketException):
                    await asyncio.sleep(1)
            await client.put("/api/v1/doctors/me/presence", json={"state": "offline"}, headers=auth)

    async def _heartbeat(self, ws: Any) -> None:
        while True:
            await ws.send(json.dumps({"type": "heartbeat"}))
            await asyncio.sleep(3)

    async def _serve(
        self, ws: Any, client: httpx.AsyncClient, auth: dict[str, str], stop: asyncio.Event
    ) -> None:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=1)
            except TimeoutError:
                continue
            msg = json.loads(raw)
            if msg.get("type") == "presence" and msg.get("state") == "away":
                # Autopaused after missed offers: come back after a short break.
                await asyncio.sleep(3)
                await client.put(
                    "/api/v1/doctors/me/presence", json={"state": "available"}, headers=auth
                )
            if msg.get("type") != "offer" or self.busy:
                continue
            if random.random() < self.args.miss_rate:
                self.tally.missed_offers += 1
                continue
            self.calls.add(asyncio.create_task(self._take(msg, client, auth)))

    async def _take(self, *args: Any) -> None:
        # The API may go away first (the demo is stopping); the call is then the server's.
        with contextlib.suppress(httpx.HTTPError):
            await self._take_call(*args)

    async def _take_call(
        self, offer: dict[str, Any], client: httpx.AsyncClient, auth: dict[str, str]
    ) -> None:
        self.busy = True
        try:
            await asyncio.sleep(random.uniform(0.3, 2.0))  # reaching for the headset
            res = await client.post(f"/api/v1/offers/{offer['offer_id']}/accept", headers=auth)
            if res.status_code != 200:
                return
            self.tally.answered += 1
            self.tally.answered_at[offer["call_id"]] = time.monotonic()
            await asyncio.sleep(random.expovariate(1 / self.args.talk_mean))
            disposition = random.choice(["advice_given", "home_care", "home_care", "referred"])
            res = await client.post(
                f"/api/v1/calls/{offer['call_id']}/complete",
                headers=auth,
                json={"disposition": disposition, "notes": "simulated call"},
            )
            if res.status_code == 200:
                self.tally.completed += 1
        finally:
            self.busy = False


async def run(args: argparse.Namespace) -> Tally:
    if args.seed is not None:
        random.seed(args.seed)
    tally = Tally()
    rates = {}
    for part in args.rates.split(","):
        b, per_min = part.split(":")
        rates[b.strip()] = float(per_min) / 60
    stop = asyncio.Event()
    secret = get_settings().telephony_secret
    async with httpx.AsyncClient(base_url=args.base_url, timeout=10) as client:
        gateway: Gateway | VoiceNetwork = Gateway(client, tally, secret)
        if args.via == "twiml":
            gateway = VoiceNetwork(args.base_url, tally, args)
        doctors = [
            VirtualDoctor(args.base_url, u.strip(), args.password, args, tally)
            for u in args.doctors.split(",")
            if u.strip()
        ]
        doctor_tasks = [asyncio.create_task(d.run(stop)) for d in doctors]
        callers: set[asyncio.Task[None]] = set()

        async def arrivals(branch: str, rate: float) -> None:
            while not stop.is_set():
                await asyncio.sleep(random.expovariate(rate))
                t = asyncio.create_task(
                    gateway.caller(
                        branch,
                        random.expovariate(1 / args.patience_mean),
                        random.random() < args.callback_rate,
                    )
                )
                callers.add(t)
                t.add_done_callback(callers.discard)

        arrival_tasks = [asyncio.create_task(arrivals(b, r)) for b, r in rates.items() if r > 0]
        started = time.monotonic()
        interval = 30 if args.quiet_progress else 5
        interrupted = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Ctrl-C (or the demo stopping) ends the run and still prints the summary.
            loop.add_signal_handler(sig, interrupted.set)
        try:
            while args.duration <= 0 or time.monotonic() - started < args.duration:
                left = (
                    args.duration - (time.monotonic() - started) if args.duration > 0 else interval
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        interrupted.wait(), timeout=max(min(interval, left), 0.1)
                    )
                if interrupted.is_set():
                    break
                print(_progress(tally, time.monotonic() - started), flush=True)
        finally:
            for t in arrival_tasks:
                t.cancel()
            if callers:
                # Let callers already waiting finish, briefly; the rest hang up.
                await asyncio.wait(callers, timeout=2 if interrupted.is_set() else 10)
                for t in callers:
                    t.cancel()
            if isinstance(gateway, VoiceNetwork):
                gateway.stopping.set()
                gateway.pool.shutdown(wait=True, cancel_futures=True)
            stop.set()
            await asyncio.gather(*doctor_tasks, return_exceptions=True)
    return tally


def _progress(t: Tally, elapsed: float) -> str:
    return (
        f"[{elapsed:5.0f}s] calls {t.arrived}  answered {t.answered}  abandoned {t.abandoned}"
        f"  call-backs {t.callbacks}  rejected {t.rejected}  missed offers {t.missed_offers}"
    )


def summary(t: Tally) -> str:
    waits = sorted(t.waits)
    if waits:
        p90 = waits[int(0.9 * (len(waits) - 1))]
        wait_line = (
            f"wait to answer: mean {statistics.mean(waits):.1f} s, "
            f"median {statistics.median(waits):.1f} s, p90 {p90:.1f} s"
        )
    else:
        wait_line = "wait to answer: no call answered"
    return (
        f"simulation over: {t.arrived} calls, {t.answered} answered, {t.completed} completed, "
        f"{t.abandoned} abandoned, {t.callbacks} asked for a call-back, {t.rejected} rejected, "
        f"{t.missed_offers} offers left to expire\n{wait_line}"
    )


def main(args: argparse.Namespace) -> int:
    try:
        tally = asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
    print(summary(tally), flush=True)
    return 0
