"""The reference endpoint for benchmarks: the cheapest FastAPI route this machine can serve."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
def ping() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/ping")
async def ping_post() -> dict[str, str]:
    """The trivial POST the HTTP benchmarks divide by (wrk sends it bodies like the real ones)."""
    return {"status": "ok"}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
