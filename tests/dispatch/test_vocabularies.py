"""Dispatch's status columns keep to their vocabularies: the database refuses any other word."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from dispatch import ambulances, jobs
from dispatch.models import (
    AmbulanceTeam,
    BedHold,
    BedPool,
    BedUpdate,
    Hospital,
    TransferHistory,
    TransferRequest,
)
from kernel.db import unit_of_work
from tests.helpers import make_hospital, new_request

COLUMNS = [
    (Hospital, "status"),
    (BedPool, "bed_type"),
    (BedUpdate, "bed_type"),
    (TransferRequest, "status"),
    (TransferRequest, "bed_type"),
    (TransferRequest, "urgency"),
    (TransferHistory, "status"),
    (BedHold, "outcome"),
    (AmbulanceTeam, "status"),
]


@pytest.mark.parametrize(("model", "column"), COLUMNS, ids=lambda x: getattr(x, "__name__", x))
def test_a_word_outside_the_vocabulary_is_refused(model, column):
    make_hospital("Vocab", beds={"icu": (2, 0)})
    assert jobs.match_request(new_request("p-vocab")) == "held"
    with unit_of_work() as s:
        ambulances.create_ambulance(s, name="115 Q1", base_lat=10.77, base_lon=106.7, actor="t")
    with pytest.raises(IntegrityError), unit_of_work() as s:
        s.execute(update(model).values({column: "typo"}))
