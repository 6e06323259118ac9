"""The `hotline` command: migrate, serve, worker, seed-demo, demo, simulate, users."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from kernel.settings import get_settings


def _print(msg: str) -> None:
    print(msg, flush=True)


def cmd_migrate(_: argparse.Namespace) -> int:
    from kernel import migrate

    migrate.upgrade()
    _print("database schema is current")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from kernel import logs
    from kernel.redisconn import redis_url

    redis_url()  # start the embedded Redis before uvicorn forks nothing, so workers share it
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several processes: /metrics sums their HTTP figures (prometheus-client's
        # multiprocess mode); a fresh folder per start, so a dead process's files never count.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hotline-metrics-")
    uvicorn.run(
        "hotline.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        log_config=logs.config(args.log_level),
        access_log=False,  # kernel.http_observe writes the access log, without query strings
        ws="websockets-sansio",
        # uvicorn restarts a worker that misses its health check; at its 5 s default a
        # worker busy with thousands of consoles at a peak was restarted, dropping every
        # console it held. A hung worker is still replaced, only later.
        timeout_worker_healthcheck=args.worker_healthcheck_s,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from hotline.jobs import run_worker

    return run_worker(burst=args.burst, queues=args.queues.split(",") if args.queues else None)


def cmd_seed_demo(_: argparse.Namespace) -> int:
    from hotline.demo import DEMO_PASSWORD, seed_demo
    from kernel.db import unit_of_work

    with unit_of_work() as session:
        logins = seed_demo(session)
        extra = _seed_other_domains(session)
    _print(
        f"demo data ready; accounts (password {DEMO_PASSWORD!r}): "
        + ", ".join(u for u, _ in logins)
    )
    for line in extra:
        _print(line)
    return 0


def _seed_other_domains(session: object) -> list[str]:
    """Let later domains add their demo data (hospitals, patients) when they exist."""
    lines: list[str] = []
    for module in ("dispatch.demo", "triage.demo", "triage.areas.demo"):
        try:
            mod = __import__(module, fromlist=["seed_demo"])
        except ModuleNotFoundError:
            continue
        lines += mod.seed_demo(session) or []
    return lines


def cmd_users_create(args: argparse.Namespace) -> int:
    from hotline import doctors
    from kernel import accounts
    from kernel.db import unit_of_work
    from kernel.errors import DomainError

    try:
        with unit_of_work() as session:
            user = accounts.create_user(
                session,
                username=args.username,
                password=args.password,
                role=args.role,
                hospital_id=args.hospital_id,
                display_name=args.name,
            )
            if args.branches:
                prefs = {d.strip(): i + 1 for i, d in enumerate(args.branches.split(","))}
                doctors.create_doctor(
                    session,
                    user_id=user.id,
                    full_name=args.name or args.username,
                    organisation=args.organisation or "",
                    licence_number=args.licence or "",
                    branches=prefs,
                )
    except DomainError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    _print(f"created {args.role} {args.username}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from hotline import simulator

    return simulator.main(args)


def cmd_demo(args: argparse.Namespace) -> int:
    """Everything on one machine: migrations, demo data, API, workers and simulated traffic."""
    from kernel.redisconn import redis_url, stop_embedded_redis

    settings = get_settings()
    env = {**os.environ, "REDIS_URL": redis_url()}
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    cmd_migrate(args)
    cmd_seed_demo(args)
    exe = [sys.executable, "-m", "hotline.cli"]
    children: list[subprocess.Popen[bytes]] = []

    def spawn(argv: list[str]) -> None:
        children.append(subprocess.Popen(exe + argv, env=env, start_new_session=True))

    spawn(["serve", "--host", args.host, "--port", str(args.port), "--log-level", "warning"])
    spawn(["worker"])
    base = f"http://{args.host}:{args.port}"
    _wait_healthy(base)
    _print(_demo_banner(base))
    if not args.no_simulator:
        doctors = ",".join(f"doctor{i}" for i in range(3, 9))
        timing = ["--duration", str(args.duration), "--quiet-progress"]
        spawn(["simulate", "--base-url", base, "--doctors", doctors, *timing])
    try:
        _run_until_stopped(children[:2])
    finally:
        _stop_children(children)
        stop_embedded_redis()
        _print("stopped")
    return 0


def _demo_banner(base: str) -> str:
    from hotline.demo import DEMO_PASSWORD

    return (
        "\n1022 hotline demo is running\n"
        f"  doctor console     {base}/static/console.html   (doctor1 .. doctor8)\n"
        f"  supervisor view    {base}/static/supervisor.html (supervisor)\n"
        f"  dispatch board     {base}/static/dispatch.html   (dispatcher)\n"
        f"  dashboard          {base}/static/dashboard.html  (supervisor)\n"
        f"  hospital bed page  {base}/static/hospital.html   (hospital staff, see above)\n"
        f"  API docs           {base}/docs\n"
        f"  password for every demo account: {DEMO_PASSWORD}\n"
        "  simulated callers on branches 3 and 4; virtual doctors doctor3..doctor8\n"
        "  (doctor1 and doctor2 are left for you). Ctrl-C stops everything.\n"
    )


def _run_until_stopped(essential: list[subprocess.Popen[bytes]]) -> None:
    """Until Ctrl-C or SIGTERM, or until an essential child (API, worker) exits."""
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stop:
        time.sleep(0.5)
        for child in essential:
            if child.poll() is not None:
                _print(f"a child process exited ({child.args!r}); stopping")
                stop = True


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    # Simulator first, then the API and workers; each runs in its own process group so
    # the RQ scheduler (a grandchild) stops with its worker.
    for child in reversed(children):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        # One at a time: the simulator finishes its calls while the API still answers.
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(10)
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)


def _wait_healthy(base: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the API did not become healthy at {base}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hotline", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="bring the database schema up to date").set_defaults(
        func=cmd_migrate
    )
    s = sub.add_parser("serve", help="run the API (HTTP + websockets)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--log-level", default="info")
    s.add_argument(
        "--worker-healthcheck-s",
        type=int,
        default=30,
        help="with --workers: restart a worker that does not answer for this long (30)",
    )
    s.set_defaults(func=cmd_serve)

    w = sub.add_parser("worker", help="run RQ workers (dispatch, follow-ups, maintenance)")
    w.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    w.add_argument("--queues", default="", help="comma-separated queue names")
    w.set_defaults(func=cmd_worker)

    sub.add_parser("seed-demo", help="load demo branches, accounts and data").set_defaults(
        func=cmd_seed_demo
    )
    d = sub.add_parser("demo", help="run everything with demo data and simulated callers")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=8000)
    d.add_argument("--duration", type=float, default=0, help="simulator seconds (0 = forever)")
    d.add_argument("--no-simulator", action="store_true")
    d.set_defaults(func=cmd_demo)

    sim = sub.add_parser("simulate", help="play callers and doctors against a running API")
    from hotline.simulator import add_arguments

    add_arguments(sim)
    sim.set_defaults(func=cmd_simulate)

    u = sub.add_parser("users", help="manage accounts")
    usub = u.add_subparsers(dest="users_command", required=True)
    uc = usub.add_parser("create", help="create an account")
    uc.add_argument("--username", required=True)
    uc.add_argument("--password", required=True)
    uc.add_argument(
        "--role", required=True, choices=["doctor", "dispatcher", "hospital", "supervisor", "admin"]
    )
    uc.add_argument("--hospital-id")
    uc.add_argument("--branches", help="doctor profile serving these branch digits, e.g. 3,4")
    uc.add_argument("--name")
    uc.add_argument("--organisation")
    uc.add_argument("--licence")
    uc.set_defaults(func=cmd_users_create)
    _add_domain_commands(sub)
    return p


def _add_domain_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Domains that bring their own commands (hospitals import, areas import) register here."""
    for module in ("dispatch.cli", "triage.cli"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError:
            continue
        mod.register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    from hotline import followups

    args = build_parser().parse_args(argv)
    followups.register()
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
