"""The routing engine's Python face: runs the Lua decisions, reads live figures, restores state.

Holds no state of its own. Every decision that hands a call to a doctor is one Lua
script (``lua/``), so Redis serialises it: a call is never offered to two doctors and a
doctor never holds two offers, whatever the number of API processes.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NotRequired, TypedDict, Unpack

import redis

from hotline.routing import keys
from hotline.routing.outcome import Outcome, parse
from hotline.vocab import CallStatus, Presence

LUA = Path(__file__).parent / "lua"
DEFAULT_HANDLE_TIME_S = 180.0
# How long a call that ended stays marked so (no late arrival re-queues it, no repeated
# hang-up acts again); far longer than any gateway retries.
ENDED_MARK_S = 3600
# How much one finished call moves the branch's average handle time.
HANDLE_TIME_WEIGHT = 0.1


def _script(r: redis.Redis, name: str) -> Any:
    # The prelude's helpers are part of every script; redis-py sends the script once per
    # connection (EVALSHA, loading it on NOSCRIPT).
    return r.register_script((LUA / "prelude.lua").read_text() + (LUA / f"{name}.lua").read_text())


@dataclass(frozen=True)
class DoctorSnapshot:
    """A doctor as the database last recorded them, for a rebuild."""

    doctor_id: str
    presence: Presence
    branches: dict[str, int]  # digit -> preference
    idle_since_ms: int
    version: int

    def with_presence(self, presence: Presence) -> DoctorSnapshot:
        return dataclasses.replace(self, presence=presence)


@dataclass(frozen=True)
class CallSnapshot:
    """A live call as the database last recorded it, for a rebuild."""

    call_id: str
    branch: str
    status: CallStatus
    priority: int
    queued_ms: int
    caller: str
    doctor_id: str | None
    callback: bool
    version: int

    def waiting_again(self) -> CallSnapshot:
        """The call back in its place (its offer void): a call-back task or a caller on hold."""
        status = CallStatus.CALLBACK_PENDING if self.callback else CallStatus.QUEUED
        return dataclasses.replace(self, status=status, doctor_id=None)


class EnqueueCall(TypedDict):
    """One call for Router.enqueue and enqueue_many (enqueue.lua's ARGV, see its header)."""

    call_id: str
    branch: str
    priority: int
    queued_ms: int
    caller: str
    max_queue: int
    timeout_ms: int
    callback: NotRequired[bool]  # a call-back we place, not a caller's call


class Router:
    def __init__(self, r: redis.Redis):
        self.r = r
        self._enqueue = _script(r, "enqueue")
        self._presence = _script(r, "set_presence")
        self._accept = _script(r, "accept")
        self._decline = _script(r, "decline")
        self._complete = _script(r, "complete")
        self._hangup = _script(r, "hangup")
        self._callback = _script(r, "callback")
        self._sweep = _script(r, "sweep")
        self._handle_time = _script(r, "handle_time")
        self._repair_call = _script(r, "repair_call")
        self._repair_doctor = _script(r, "repair_doctor")
        self._drop_call = _script(r, "drop_call")
        self._lift_version = _script(r, "lift_version")
        self._unanswered = _script(r, "unanswered")

    @staticmethod
    def score(priority: int, queued_ms: int) -> int:
        return keys.score(priority, queued_ms)

    def _run(self, script: Any, args: list[Any]) -> Outcome:
        return self._parsed(script(keys=[], args=args))

    @staticmethod
    def _parsed(res: Any) -> Outcome:
        out = parse(str(res[0]), str(res[1]), res[2])
        if len(res) > 3:
            out.position, out.staffed = int(res[3]), int(res[4])
            out.aht_s = float(res[5]) if res[5] else None
        return out

    # -- decisions ---------------------------------------------------------
    def enqueue(self, **call: Unpack[EnqueueCall]) -> Outcome:
        return self._run(self._enqueue, self._enqueue_argv(call))

    @classmethod
    def _enqueue_argv(cls, call: EnqueueCall) -> list[Any]:
        """enqueue.lua's ARGV (see its header)."""
        score = cls.score(call["priority"], call["queued_ms"])
        flag = "1" if call.get("callback", False) else "0"
        return [
            call["call_id"],
            call["branch"],
            score,
            call["queued_ms"],
            call["caller"],
            call["max_queue"],
            call["timeout_ms"],
            flag,
        ]

    def enqueue_many(self, calls: list[EnqueueCall]) -> list[Outcome | Exception]:
        """enqueue for each of `calls` (its keyword arguments), in order, in one round trip.

        Each script runs alone in Redis, in the list's order, as separate calls would; a
        script that fails answers its own error. A connection that fails raises.
        """
        pipe = self.r.pipeline(transaction=False)
        for c in calls:
            self._enqueue(keys=[], args=self._enqueue_argv(c), client=pipe)
        replies = pipe.execute(raise_on_error=False)
        return [x if isinstance(x, Exception) else self._parsed(x) for x in replies]

    def set_presence(
        self, *, doctor_id: str, state: str, branches: dict[str, int] | None, timeout_ms: int
    ) -> Outcome:
        spec = ",".join(f"{b}:{p}" for b, p in (branches or {}).items())
        return self._run(self._presence, [doctor_id, state, spec, timeout_ms])

    def accept(self, *, offer_id: str, doctor_id: str) -> Outcome:
        return self._run(self._accept, [offer_id, doctor_id])

    def decline(self, *, offer_id: str, doctor_id: str, timeout_ms: int) -> Outcome:
        return self._run(self._decline, [offer_id, doctor_id, timeout_ms, timeout_ms])

    def complete(self, *, call_id: str, doctor_id: str, wrapup_ms: int) -> Outcome:
        return self._run(self._complete, [call_id, doctor_id, wrapup_ms, ENDED_MARK_S])

    def hangup(self, *, call_id: str, timeout_ms: int) -> Outcome:
        return self._run(self._hangup, [call_id, timeout_ms, ENDED_MARK_S])

    def unanswered(
        self, *, call_id: str, doctor_id: str, timeout_ms: int, autopause_after: int
    ) -> Outcome:
        """The accepting doctor's phone leg was not answered: see unanswered.lua."""
        args = [call_id, doctor_id, timeout_ms, autopause_after, timeout_ms]
        return self._run(self._unanswered, args)

    def callback(self, *, call_id: str) -> Outcome:
        return self._run(self._callback, [call_id])

    def sweep(self, *, timeout_ms: int, heartbeat_timeout_ms: int, autopause_after: int) -> Outcome:
        rows = self._sweep(
            keys=[], args=[timeout_ms, heartbeat_timeout_ms, autopause_after, timeout_ms]
        )
        return parse("ok", "", rows)

    def heartbeat(self, doctor_id: str) -> None:
        # XX: only doctors who are signed in to routing have a heartbeat to refresh.
        self.r.zadd(keys.HEARTBEATS, {doctor_id: self.now_ms()}, xx=True)

    def heartbeat_many(self, doctor_ids: list[str]) -> None:
        """Heartbeats of many consoles at once (hotline.live.Heartbeats): one ZADD XX."""
        if doctor_ids:
            now = self.now_ms()
            self.r.zadd(keys.HEARTBEATS, dict.fromkeys(doctor_ids, now), xx=True)

    def record_handle_time(self, branch: str, handle_s: float) -> float:
        args = [branch, handle_s, DEFAULT_HANDLE_TIME_S, HANDLE_TIME_WEIGHT]
        return float(self._handle_time(keys=[], args=args))

    # -- repairs (the reconciliation sweep) -----------------------------------
    def repair_call(self, call: CallSnapshot, *, timeout_ms: int) -> Outcome:
        score = keys.score(call.priority, call.queued_ms)
        args = [call.call_id, call.status, call.doctor_id or "", call.branch, score]
        args += [call.queued_ms, call.caller, "1" if call.callback else "0", call.version]
        return parse("ok", "", self._repair_call(keys=[], args=[*args, timeout_ms]))

    def repair_doctor(self, doctor: DoctorSnapshot, *, timeout_ms: int) -> Outcome:
        spec = ",".join(f"{b}:{p}" for b, p in doctor.branches.items())
        args = [doctor.doctor_id, doctor.presence, spec, doctor.idle_since_ms, doctor.version]
        return parse("ok", "", self._repair_doctor(keys=[], args=[*args, timeout_ms]))

    def drop_call(self, call_id: str, *, timeout_ms: int) -> Outcome:
        args = [call_id, ENDED_MARK_S, timeout_ms]
        return parse("ok", "", self._drop_call(keys=[], args=args))

    def lift_version(self, kind: str, entity_id: str, state: str, version: int) -> int:
        """kind "call" or "doc"; see lift_version.lua."""
        return int(self._lift_version(keys=[], args=[kind, entity_id, state, version]))

    def is_marked_ended(self, call_id: str) -> bool:
        return bool(self.r.exists(keys.ended(call_id)))

    def calls_held(self) -> dict[str, dict[str, str]]:
        """Every call Redis holds, with its hash (a scan: for the reconciliation sweep)."""
        ids = [k[len(keys.call("")) :] for k in self.r.scan_iter(match=keys.call("*"), count=1000)]
        return dict(zip(ids, self._hashes([keys.call(i) for i in ids]), strict=True))

    def doctor_hashes(self, doctor_ids: list[str]) -> dict[str, dict[str, str]]:
        return dict(
            zip(doctor_ids, self._hashes([keys.doctor(d) for d in doctor_ids]), strict=True)
        )

    def offers_held(self) -> dict[str, dict[str, str]]:
        ids = [str(o) for o in self.r.zrange(keys.OFFERS, 0, -1)]
        return dict(zip(ids, self._hashes([keys.offer(o) for o in ids]), strict=True))

    def _hashes(self, names: list[str]) -> list[dict[str, str]]:
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(name)
        return [{str(k): str(v) for k, v in h.items()} for h in pipe.execute()]

    # -- read side ---------------------------------------------------------
    def now_ms(self) -> int:
        t = self.r.time()
        return int(t[0]) * 1000 + int(t[1]) // 1000

    def position(self, call_id: str) -> tuple[str | None, int | None]:
        """(status, 1-based place among calls waiting for an offer) for a live call."""
        st, b = self.r.hmget(keys.call(call_id), ["st", "b"])
        if st is None:
            return None, None
        rank = self.r.zrank(keys.queue(str(b)), call_id)
        return str(st), (int(rank) + 1 if isinstance(rank, int) else 0)

    def handle_time(self, branch: str) -> float | None:
        """The branch's running average handle time (s), if a call has finished there."""
        value = self.r.get(keys.handle_time(branch))
        return float(value) if value else None

    def staffed_count(self, branch: str) -> int:
        return int(self.r.scard(keys.staffed(branch)))

    def wrap_up_ends_ms(self, doctor_id: str) -> int | None:
        ends = self.r.zscore(keys.WRAP_UPS, doctor_id)
        return int(ends) if ends is not None else None

    def branch_figures(self, branches: list[str]) -> dict[str, dict[str, Any]]:
        now_ms = self.now_ms()
        pipe = self.r.pipeline(transaction=False)
        for b in branches:
            pipe.zcard(keys.waiting(b))
            pipe.zrange(keys.waiting(b), 0, 0, withscores=True)
            pipe.zcard(keys.available(b))
            pipe.scard(keys.staffed(b))
        res = pipe.execute()
        figures: dict[str, dict[str, Any]] = {}
        for i, b in enumerate(branches):
            waiting, oldest, available, staffed = res[i * 4 : i * 4 + 4]
            longest = (now_ms - int(oldest[0][1])) / 1000 if oldest else 0.0
            figures[b] = {
                "waiting": int(waiting),
                "longest_wait_s": round(max(longest, 0.0), 1),
                "available": int(available),
                "online": int(staffed),
            }
        return figures

    def doctor_state(self, doctor_id: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.r.hgetall(keys.doctor(doctor_id)).items()}

    def offer(self, offer_id: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.r.hgetall(keys.offer(offer_id)).items()}

    def is_ready(self) -> bool:
        return bool(self.r.exists(keys.READY))

    # -- rebuild -------------------------------------------------------------
    @contextlib.contextmanager
    def rebuild_lock(self, ttl_s: int = 30) -> Iterator[bool]:
        """One rebuild at a time across processes; yields whether this one holds the lock."""
        held = bool(self.r.set(keys.REBUILD_LOCK, "1", nx=True, ex=ttl_s))
        try:
            yield held
        finally:
            if held:
                self.r.delete(keys.REBUILD_LOCK)

    def restore(
        self, doctors: Iterable[DoctorSnapshot], calls: Iterable[CallSnapshot], *, now_ms: int
    ) -> None:
        """Replace the routing state with the given snapshots (hold the rebuild lock)."""
        self._wipe()
        pipe = self.r.pipeline(transaction=True)
        for doctor in doctors:
            self._restore_doctor(pipe, doctor, now_ms)
        for call in calls:
            self._restore_call(pipe, call)
        pipe.set(keys.READY, str(now_ms // 1000))
        pipe.execute()

    def _wipe(self) -> None:
        doomed = [
            k
            for k in self.r.scan_iter(match=keys.P + "*", count=1000)
            if k not in keys.SURVIVES_REBUILD and not k.startswith(keys.SURVIVING_PREFIXES)
        ]
        for i in range(0, len(doomed), 500):
            self.r.delete(*doomed[i : i + 500])

    @staticmethod
    def _restore_doctor(pipe: Any, doctor: DoctorSnapshot, now_ms: int) -> None:
        # An offer Redis no longer knows is void: an offered doctor is available again.
        state = Presence.AVAILABLE if doctor.presence is Presence.OFFERED else doctor.presence
        spec = ",".join(f"{b}:{p}" for b, p in doctor.branches.items())
        pipe.hset(
            keys.doctor(doctor.doctor_id),
            mapping={
                "st": state,
                "br": spec,
                "idle": doctor.idle_since_ms,
                "offer": "",
                "call": "",
                "missed": 0,
                "ver": doctor.version,
            },
        )
        if state not in (Presence.OFFLINE, Presence.AWAY):
            for b in doctor.branches:
                pipe.sadd(keys.staffed(b), doctor.doctor_id)
        if state is Presence.AVAILABLE:
            for b, pref in doctor.branches.items():
                pipe.zadd(
                    keys.available(b), {doctor.doctor_id: keys.score(pref, doctor.idle_since_ms)}
                )
        if state is Presence.WRAP_UP:
            pipe.zadd(keys.WRAP_UPS, {doctor.doctor_id: now_ms})
        if state is not Presence.OFFLINE:
            # A grace period: live consoles heart-beat again within seconds.
            pipe.zadd(keys.HEARTBEATS, {doctor.doctor_id: now_ms})

    @staticmethod
    def _restore_call(pipe: Any, call: CallSnapshot) -> None:
        score = keys.score(call.priority, call.queued_ms)
        pipe.hset(
            keys.call(call.call_id),
            mapping={
                "b": call.branch,
                "st": call.status,
                "sc": score,
                "q": call.queued_ms,
                "caller": call.caller,
                "doc": call.doctor_id or "",
                "offer": "",
                "cb": "1" if call.callback else "0",
                "ver": call.version,
            },
        )
        pipe.sadd(keys.BRANCHES, call.branch)
        if call.status in (CallStatus.QUEUED, CallStatus.CALLBACK_PENDING):
            pipe.zadd(keys.queue(call.branch), {call.call_id: score})
            pipe.zadd(keys.waiting(call.branch), {call.call_id: call.queued_ms})
        elif call.doctor_id:
            pipe.hset(
                keys.doctor(call.doctor_id),
                mapping={"st": Presence.ON_CALL, "call": call.call_id},
            )


_routers: dict[int, Router] = {}


def router_for(r: redis.Redis) -> Router:
    """The Router bound to this Redis client (its scripts registered once)."""
    router = _routers.get(id(r))
    if router is None:
        router = Router(r)
        _routers[id(r)] = router
    return router
