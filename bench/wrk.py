"""Drive an HTTP server with wrk (a C load generator) so the figures measure the server.

Every request is unique: the requests are prepared in Python beforehand (each webhook
body signed with a fresh timestamp, each bed update with its own as_of) and written to a
file; a generated Lua script splits them between wrk's threads and sends each one once
(a thread that runs out wraps, which the caller avoids by preparing enough requests).

wrk comes from Debian's package; `ensure_wrk()` installs it when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# One request per line: METHOD \t PATH \t BODY \t "Header: value" \t ...
LUA = r"""
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  reqs = {}
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == tid then
      local parts = {}
      for p in string.gmatch(line, "([^\t]*)\t?") do table.insert(parts, p) end
      local headers = {}
      for k = 4, #parts do
        local name, value = string.match(parts[k], "^([^:]+):%s*(.*)$")
        if name then headers[name] = value end
      end
      local body = parts[3]
      if body == "" then body = nil end
      table.insert(reqs, wrk.format(parts[1], parts[2], headers, body))
    end
    i = i + 1
  end
  n = 0
  bad = 0
end

function request()
  n = n + 1
  if n > #reqs then n = 1 end
  return reqs[n]
end

function response(status, headers, body)
  if status >= 400 then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("wrk: HTTP " .. status .. " " .. body:sub(1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + (t:get("bad") or 0) end
  io.write(string.format("BAD_RESPONSES %d\n", total))
end
"""


@dataclass
class Request:
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        body = self.body.decode()
        if "\t" in body or "\n" in body:
            raise ValueError("request bodies must be one line without tabs")
        parts = [self.method, self.path, body, *(f"{k}: {v}" for k, v in self.headers.items())]
        return "\t".join(parts)


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    bad: int  # responses >= 400 and socket errors
    rss_mb: float
    cpu_ms: float = 0.0  # the server's CPU per request (all its processes), ms

    def row(self, label: str) -> str:
        return (
            f"  {label:<34} {self.rate:8.1f} req/s  p50 {self.p50_ms:7.1f} ms"
            f"  p99 {self.p99_ms:7.1f} ms  errors {self.bad:5d}  RSS {self.rss_mb:6.1f} MB"
            f"  server CPU {self.cpu_ms:6.3f} ms/req"
        )


def ensure_wrk() -> str:
    exe = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
    if exe:
        return exe
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("wrk is missing: installing Debian's package", flush=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "wrk"], check=True)
    exe = shutil.which("wrk")
    if not exe:
        raise RuntimeError("wrk could not be installed")
    return exe


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse(out: str) -> tuple[int, float, float, float, float, int]:
    """(requests, seconds, rate, p50 ms, p99 ms, errors) from `wrk --latency` output."""
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if not m:
        raise RuntimeError(f"wrk output not understood:\n{out}")
    requests, seconds = int(m.group(1)), _ms(m.group(2), m.group(3)) / 1000
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pcts = {
        p: _ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)", out, re.M)
    }
    bad = 0
    if m2 := re.search(r"BAD_RESPONSES (\d+)", out):
        bad += int(m2.group(1))
    if m3 := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    ):
        bad += sum(int(x) for x in m3.groups())
    return requests, seconds, rate, pcts.get("50", 0.0), pcts.get("99", 0.0), bad


def _tree(pid: int) -> list[int]:
    """A process and its children (uvicorn --workers forks them)."""
    found, pids = [], [pid]
    while pids:
        p = pids.pop()
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        found.append(p)
        pids.extend(int(c) for c in children)
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children."""
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process and its children have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (after the name)
    return total / tick


def run(
    url: str,
    requests: Sequence[Request],
    *,
    connections: int = 50,
    threads: int = 2,
    duration_s: float = 10,
    server_pid: int | None = None,
) -> WrkResult:
    exe = ensure_wrk()
    threads = min(threads, connections)
    cpu_before = cpu_s(server_pid) if server_pid else 0.0
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        data = Path(tmp, "requests.tsv")
        data.write_text("\n".join(r.line() for r in requests) + "\n")
        script = Path(tmp, "cycle.lua")
        script.write_text(LUA)
        out = subprocess.run(
            [
                exe,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(duration_s))}s",
                "--timeout",
                "30s",
                "--latency",
                "-s",
                str(script),
                url,
                "--",
                str(data),
                str(threads),
            ],
            capture_output=True,
            text=True,
        )
    if out.returncode:
        raise RuntimeError(f"wrk failed: {out.stderr or out.stdout}")
    rss = rss_mb(server_pid) if server_pid else 0.0
    cpu = cpu_s(server_pid) - cpu_before if server_pid else 0.0
    n, secs, rate, p50, p99, bad = parse(out.stdout)
    if out.stderr.strip():
        print(out.stderr.strip()[:1000], file=sys.stderr)
    return WrkResult(n, secs, rate, p50, p99, bad, rss, 1000 * cpu / n if n else 0.0)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A uvicorn server in its own process, set up the way `hotline serve` runs the API."""

    def __init__(
        self,
        app: str,
        env: dict[str, str],
        *,
        workers: int = 1,
        factory: bool = True,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--ws",
            "websockets-sansio",
            "--workers",
            str(workers),
        ]
        if factory:
            args.append("--factory")
        args.extend(extra_args)
        if workers > 1 and not env.get("PROMETHEUS_MULTIPROC_DIR"):
            # As `hotline serve --workers N`: /metrics sums the processes' figures, and each
            # process pays for writing its own files.
            env = {**env, "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="bench-metrics-")}
        # Its log goes to a file: wrk closing connections at the end makes tracebacks.
        fd, self.log_path = tempfile.mkstemp(prefix="bench-server-", suffix=".log")
        with os.fdopen(fd, "wb") as log:
            self.proc = subprocess.Popen(args, env=env, cwd=ROOT, stderr=log, stdout=log)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited while starting, see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if s.recv(16).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def trivial_posts(n: int, body: bytes) -> Iterable[Request]:
    """The reference: the cheapest FastAPI POST, sent bodies of the same size."""
    for _ in range(n):
        yield Request("POST", "/ping", body, {"Content-Type": "application/json"})
