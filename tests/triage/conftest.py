"""Triage fixtures: a call centre that records follow-ups instead of queueing calls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hotline import followups as hotline_followups
from tests.helpers import RecordingSink
from triage import ports


@pytest.fixture
def sink() -> Iterator[RecordingSink]:
    s = RecordingSink()
    ports.register_call_centre(s)
    yield s
    hotline_followups.register()
