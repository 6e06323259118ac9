"""The demo's simulated callers take the real voice path: TwiML, signed like the provider."""

from __future__ import annotations

import argparse
import asyncio

from sqlalchemy import select

from hotline import simulator
from hotline.demo import seed_demo
from hotline.models import Call
from kernel.db import unit_of_work
from tests.helpers import assert_routing_invariants


def test_the_simulator_dials_in_through_the_twiml_line(live_server, r):
    with unit_of_work() as session:
        seed_demo(session)
    parser = argparse.ArgumentParser()
    simulator.add_arguments(parser)
    args = parser.parse_args(
        [
            "--base-url",
            live_server.url,
            "--rates",
            "3:60,4:30",
            "--doctors",
            "doctor3,doctor4,doctor5",
            "--duration",
            "8",
            "--talk-mean",
            "1",
            "--seed",
            "7",
            "--quiet-progress",
        ]
    )
    tally = asyncio.run(simulator.run(args))
    assert tally.arrived > 0 and tally.answered > 0
    live_server.stop()
    with unit_of_work() as s:
        calls = list(s.scalars(select(Call)))
    inbound = [c for c in calls if c.direction != "callback" or c.provider_call_id.startswith("CA")]
    assert inbound and all(c.provider_call_id.startswith("CAsim") for c in inbound)
    # Some callers reached a doctor's phone: their calls were answered through the line.
    assert any(c.answered_by for c in calls)
    assert_routing_invariants(r)
