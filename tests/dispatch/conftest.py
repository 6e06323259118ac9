"""Dispatch fixtures: two hospitals competing for ICU beds and the people who work them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import account_headers, make_hospital


@pytest.fixture
def staff(client: Any) -> dict[str, Any]:
    """Two hospitals with one ICU bed each way, a dispatcher, a doctor and each hospital's staff."""
    a = make_hospital("Bệnh viện Chợ Rẫy", lat=10.7579, lon=106.6596, beds={"icu": (1, 0)})
    b = make_hospital("Bệnh viện Nhân dân 115", lat=10.7756, lon=106.6676, beds={"icu": (0, 0)})
    return {
        "a": a,
        "b": b,
        "disp": account_headers("disp", "dispatcher"),
        "doc": account_headers("doc", "doctor"),
        "staff_a": account_headers("staff_a", "hospital", hospital_id=a),
        "staff_b": account_headers("staff_b", "hospital", hospital_id=b),
        "admin": account_headers("root", "admin"),
    }
