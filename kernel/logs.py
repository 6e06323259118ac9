"""Structured logs: one JSON object per line, with the request's context and nothing secret or personal.

Every record carries time, level, logger and message, and, when there is one, the request id,
route, status and duration (set by kernel.http_observe) and the call, transfer or job id it is
about (from the route's path parameters, or the RQ job running). Before a line is written, every
string in it is scrubbed: tokens and websocket tickets in query strings, bearer and API-key headers, JSON web tokens
and password fields become "[redacted]", and phone numbers keep only their first three and last
two digits. The scrubbing applies to the access log and to every library's lines (uvicorn logs a
websocket's URL, query string included), since they all pass through the same formatter.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any

# What the request being served is; set by the HTTP middleware, read by the formatter.
request_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "request_context", default=None
)

REDACTED = "[redacted]"

# Query parameters and JSON or form fields whose value is a secret.
_SECRET_NAMES = r"(?:access_token|token|ticket|password|passwd|secret|api_key|apikey|x-api-key|key)"
_SECRET_PAIR = re.compile(
    rf"""(?ix)
    (?P<name>["']?{_SECRET_NAMES}["']?\s*[=:]\s*["']?)   # token=, "password": ", X-API-Key:
    (?P<value>[^\s"'&,;}}]+)
    """
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Hospital API keys as kernel.accounts issues them: hk_<prefix>_<secret>.
_API_KEY = re.compile(r"\bhk_[0-9a-f]+_[A-Za-z0-9_-]+")
# Vietnamese numbers: 0 or +84/84, then 8 to 10 digits (mobile and landline), not inside
# a longer run of digits (ids and timestamps stay as they are).
_PHONE = re.compile(r"(?<![\w.])(?:\+?84|0)\d{8,10}(?![\w.])")


def mask_phone(match: re.Match[str]) -> str:
    digits = match.group(0)
    return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


# Anything any of the patterns below could match contains one of these; most log strings
# contain none, and one search is cheaper than five substitutions.
_MAYBE = re.compile(r"(?i)\d{9}|eyJ|hk_|bearer|basic|token|ticket|passw|secret|key")


def scrub(text: str) -> str:
    """The text with secrets redacted and phone numbers masked."""
    if not _MAYBE.search(text):
        return text
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _API_KEY.sub(REDACTED, text)
    text = _SECRET_PAIR.sub(lambda m: m.group("name") + REDACTED, text)
    return _PHONE.sub(mask_phone, text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


# Attributes every LogRecord has; anything else was passed with extra= and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _current_job_id() -> str | None:
    try:
        from rq import get_current_job
    except ImportError:  # pragma: no cover - rq is a dependency
        return None
    try:
        job = get_current_job()
    except Exception:
        return None
    return job.id if job is not None else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line; every string scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        ctx = request_context.get()
        if ctx:
            out.update(ctx)
        job_id = _current_job_id()
        if job_id:
            out["job_id"] = job_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        head = {k: out.pop(k) for k in ("time", "level", "logger")}  # never personal
        return json.dumps({**head, **_clean(out)}, ensure_ascii=False, default=str)


def config(level: str = "INFO") -> dict[str, Any]:
    """A logging.config dict: every logger (uvicorn's and RQ's included) writes JSON to stderr."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # The middleware writes the access log (path without its query string);
            # uvicorn's own would print the query string of every request.
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "alembic": {"level": "WARNING"},
            "rq.worker": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


def configure(level: str = "INFO") -> None:
    logging.config.dictConfig(config(level))
