"""Schemathesis against the live API, as each role: never a 5xx, and what it answers is documented.

Every operation of the OpenAPI description gets a bounded number of generated requests
(valid ones and deliberately invalid ones) as an admin, a doctor, a dispatcher and a
hospital's staff, against a real server process on this run's database and Redis. The
first server error fails the test; so does a status code, content type or body (a 4xx's
error envelope included) that the description does not declare, and an invalid request
that is accepted.

HOTLINE_FUZZ_EXAMPLES scales the examples per operation (default below, sized so that the
four roles take a few minutes on a loaded two-core machine). A summary per role is
printed and written to test-artifacts/fuzz-<backend>.txt.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from kernel.db import get_engine
from tests.helpers import (
    ARTIFACTS,
    LiveServer,
    account_headers,
    auth,
    make_hospital,
    make_user,
    seed_branches,
    token_for,
)

ROLES = ("admin", "doctor", "dispatcher", "hospital")
# Examples per operation and generation mode; admins reach every handler, the other roles
# are refused early on most operations and get fewer.
SCALE = float(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "1"))
EXAMPLES = {"admin": 12, "doctor": 4, "dispatcher": 4, "hospital": 4}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
SUMMARY: list[str] = []
# HOTLINE_FUZZ_COLLECT=1: go on past a failure and list them all at the end (to fix many).
COLLECT = os.environ.get("HOTLINE_FUZZ_COLLECT") == "1"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer().start()
    yield live
    live.stop()
    backend = get_engine().dialect.name
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"fuzz-{backend}.txt").write_text("\n".join(SUMMARY) + "\n")
    print("\n" + "\n".join(SUMMARY))


def _headers_for(role: str, server: LiveServer) -> dict[str, str]:
    """Seed what the operations can find, and return the role's bearer header."""
    seed_branches()
    hospital_id = make_hospital(beds={"icu": (10, 3), "oxygen": (40, 20)})
    if role == "doctor":
        # The doctor signs in through the real route (and has a doctor's profile).
        make_user("fuzz-doctor", "doctor", branches={"3": 1, "4": 2})
        with httpx.Client(base_url=server.url, timeout=30) as http:
            return auth(token_for(http, "fuzz-doctor"))
    return account_headers(
        f"fuzz-{role}", role, hospital_id=hospital_id if role == "hospital" else None
    )


@pytest.mark.parametrize("role", ROLES)
def test_no_server_error_and_every_answer_documented(server: LiveServer, role: str) -> None:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    headers = _headers_for(role, server)
    examples = max(1, round(EXAMPLES[role] * SCALE))
    started = time.monotonic()
    operations = sent = 0
    found: list[str] = []
    with requests.Session() as http:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(
                    max_examples=examples,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def probe(case: Any) -> None:
                    nonlocal sent
                    sent += 1
                    case.call_and_validate(
                        base_url=server.url,
                        session=http,
                        headers=headers,
                        checks=CHECKS,
                        timeout=30,
                    )

                try:
                    probe()
                except Unsatisfiable:
                    continue  # nothing to make invalid: an operation without inputs
                except (Exception, BaseExceptionGroup) as exc:
                    found.append(f"{role} {operation.label} ({mode.value}): {exc}")
                    if not COLLECT:
                        break
            if found and not COLLECT:
                break
    SUMMARY.append(
        f"{get_engine().dialect.name} {role}: {operations} operations, {sent} requests, "
        f"{len(found)} failures, {time.monotonic() - started:.0f} s"
    )
    assert not found, "\n\n".join(found)
    assert operations > 60  # the walk really covered the API
