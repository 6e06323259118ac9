"""FHIR bed reports: accepted/s through POST /fhir/MeasureReport against the JSON bed route and a
trivial endpoint on the same run (wrk), and what the FHIR validation costs per report (timeit).

Run: `.venv/bin/python -m bench.bench_fhir [--seconds 15]`. Without DATABASE_URL/REDIS_URL it uses a
fresh embedded SQLite + Redis in a temporary folder; with them, point at SCRATCH servers (it adds
hospitals). wrk drives each route with a Lua script that cycles pre-built bodies, one hospital after
another, each with a later as_of than the last, so every report is new and accepted. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import timeit
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.bench_routing import _setup_env, free_port, start_server

ROOT = Path(__file__).resolve().parent.parent
HOSPITALS = 24
AS_OF = "__AS_OF__"

LUA = r"""
-- Cycles pre-built bodies; request k of a thread goes to hospital k mod n with as_of base + k s,
-- so each hospital sees strictly later counts. Threads split the hospitals between them.
local bodies = dofile("%(bodies)s")
local base = %(base)d
local counter, mine = 0, {}
local thread_no = 0
function setup(thread)
  thread:set("id", thread_no)
  thread_no = thread_no + 1
end
function init(args)
  for i, b in ipairs(bodies) do
    if (i - 1) %% %(threads)d == id then table.insert(mine, b) end
  end
end
function request()
  counter = counter + 1
  local b = mine[(counter %% #mine) + 1]
  local as_of = os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ", base + counter)
  local headers = {["Content-Type"] = b.type, ["X-Api-Key"] = b.key}
  return wrk.format(b.method, b.path, headers, (b.body:gsub("%(placeholder)s", as_of)))
end
"""


def _lua_string(s: str) -> str:
    return "[==[" + s + "]==]"


def _fhir_body(hospital_id: str) -> str:
    from fhir.resources.R4B.measurereport import MeasureReport

    from dispatch.fhir import codes

    def coded(code: str) -> dict[str, Any]:
        return {"coding": [{"system": codes.SYSTEM, "code": code}]}

    report = MeasureReport.model_validate(
        {
            "status": "complete",
            "type": "summary",
            "measure": codes.MEASURE,
            "subject": {"reference": f"Location/{hospital_id}"},
            "period": {"start": "2021-08-01T00:00:00Z", "end": "2021-08-01T00:00:00Z"},
            "group": [
                {
                    "code": coded(codes.BED_TYPE_CONCEPTS[t].code),  # type: ignore[index]
                    "population": [
                        {"code": coded("total"), "count": total},
                        {"code": coded("occupied"), "count": occ},
                        {"code": coded("out-of-service"), "count": 1},
                    ],
                }
                for t, total, occ in (("icu", 20, 11), ("oxygen", 120, 70), ("general", 300, 180))
            ],
        }
    )
    return report.model_dump_json(exclude_none=True).replace("2021-08-01T00:00:00Z", AS_OF)


def _json_body() -> str:
    return json.dumps(
        {
            "as_of": AS_OF,
            "pools": [
                {"bed_type": t, "total": total, "occupied": occ, "out_of_service": 1}
                for t, total, occ in (("icu", 20, 11), ("oxygen", 120, 70), ("general", 300, 180))
            ],
        }
    )


def prepare() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Hospitals with keys; the FHIR bodies for half of them, the JSON bodies for the other half."""
    from dispatch import hospitals
    from hotline.tables import load_all
    from kernel import migrate
    from kernel.accounts import create_api_key
    from kernel.db import unit_of_work

    load_all()
    migrate.upgrade()
    fhir, js = [], []
    with unit_of_work() as s:
        for i in range(2 * HOSPITALS):
            h = hospitals.create_hospital(
                s, name=f"Bench {i} {os.getpid()}", tier=3, lat=10.7, lon=106.7, actor="bench"
            )
            _, key = create_api_key(s, hospital_id=h.id, name="bench")
            if i % 2 == 0:
                fhir.append(
                    {
                        "method": "POST",
                        "path": "/fhir/MeasureReport",
                        "type": "application/fhir+json",
                        "key": key,
                        "body": _fhir_body(h.id),
                    }
                )
            else:
                js.append(
                    {
                        "method": "PUT",
                        "path": f"/api/v1/hospitals/{h.id}/beds",
                        "type": "application/json",
                        "key": key,
                        "body": _json_body(),
                    }
                )
    return fhir, js


def write_lua(
    folder: Path, name: str, bodies: list[dict[str, str]], base: int, threads: int
) -> Path:
    table = (
        "return {\n"
        + "".join(
            "{" + ", ".join(f"{k} = {_lua_string(v)}" for k, v in b.items()) + "},\n"
            for b in bodies
        )
        + "}\n"
    )
    data = folder / f"{name}-bodies.lua"
    data.write_text(table)
    script = folder / f"{name}.lua"
    script.write_text(
        LUA % {"bodies": data, "base": base, "threads": threads, "placeholder": AS_OF}
    )
    return script


def wrk(url: str, seconds: int, threads: int, conns: int, script: Path | None) -> dict[str, float]:
    args = ["/usr/bin/wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency"]
    if script:
        args += ["-s", str(script)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad_m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(bad_m.group(1)) if bad_m else 0
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": rps,
        "accepted_rps": rps * (total - bad) / total if total else 0.0,
        "requests": total,
        "refused": bad,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
    }


def validation_cost() -> dict[str, float]:
    """Microseconds per report: JSON parsing alone, the FHIR model, the model plus our reading."""
    from dispatch.fhir.resources import bed_report, parse_measure_report

    body = _fhir_body("h1").replace(AS_OF, "2021-08-01T08:00:00+07:00").encode()
    n = 2000

    def us(fn: Any) -> float:
        return min(timeit.repeat(fn, number=n, repeat=3)) / n * 1e6

    return {
        "json.loads": us(lambda: json.loads(body)),
        "fhir model (parse + validate)": us(lambda: parse_measure_report(body)),
        "model + bed counts": us(lambda: bed_report(parse_measure_report(body))),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args()
    _setup_env()
    from kernel.redisconn import redis_url
    from kernel.settings import get_settings

    env = {**os.environ, "REDIS_URL": redis_url(), "HOTLINE_RUN_SWEEPER": "false"}
    if get_settings().database_url:
        env["DATABASE_URL"] = get_settings().database_url or ""
    fhir, js = prepare()
    folder = Path(tempfile.mkdtemp(prefix="bench-fhir-"))
    # Later as_of than anything stored, and never in the future: start three days back.
    base = int((datetime.now(UTC) - timedelta(days=3)).timestamp())
    fhir_lua = write_lua(folder, "fhir", fhir, base, args.threads)
    json_lua = write_lua(folder, "json", js, base, args.threads)

    port, trivial_port = free_port(), free_port()
    api = start_server("hotline.app:create_app", port, env)
    trivial = start_server("bench.trivial_app:app", trivial_port, env, factory=False)
    try:
        w = (args.seconds, args.threads, args.connections)
        runs = {
            "trivial GET /ping": wrk(f"http://127.0.0.1:{trivial_port}/ping", *w, None),
            "JSON PUT /api/v1/hospitals/{id}/beds": wrk(f"http://127.0.0.1:{port}", *w, json_lua),
            "FHIR POST /fhir/MeasureReport": wrk(f"http://127.0.0.1:{port}", *w, fhir_lua),
        }
    finally:
        for proc in (api, trivial):
            proc.terminate()
            proc.wait(15)
    db = "postgresql" if get_settings().database_url else "sqlite (embedded)"
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, one uvicorn worker each, {db}"
    )
    print("  reports carry 3 bed types each; refused = non-2xx (a stale as_of when two overlap)")
    for name, r in runs.items():
        print(
            f"  {name:40s} {r['rps']:8.1f} req/s  accepted {r['accepted_rps']:8.1f}/s  "
            f"p99 {r['p99_ms']:7.1f} ms  refused {int(r['refused'])}/{int(r['requests'])}"
        )
    print("FHIR validation per report (timeit, best of 3 x 2000):")
    for name, cost in validation_cost().items():
        print(f"  {name:32s} {cost:8.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
