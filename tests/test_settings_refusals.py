"""Production refuses to start on weak, equal or placeholder secrets and on unknown environments."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from kernel.settings import Settings

STRONG_A = secrets.token_hex(32)
STRONG_B = secrets.token_urlsafe(40)


def _settings(**env: str) -> Settings:
    return Settings(**env)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "weak",
    [
        "a" * 64,  # repeated character
        "ab" * 20,  # repeated pattern
        "0123401234012340123401234012340123401234",  # repeated 5-character unit
        "aaaaaaaaaaaaaaaa",  # 16 chars: the length the old rule accepted
        "Xk3#pQ9!vL2@",  # varied but short
        "changeme-changeme-please-0123456789",
        "CHANGEME-" + secrets.token_hex(16),
        "this-is-a-placeholder-" + secrets.token_hex(8),
        "test-jwt-secret-0123456789abcdef",  # the test suite's value
        "bench-jwt-secret-0123456789abcdef",  # the bench's value
        "aabbaabbaabbaabbaabbaabbaabbaabbccdd",  # 4 distinct characters
    ],
)
def test_production_refuses_a_weak_or_placeholder_secret(weak: str) -> None:
    with pytest.raises(ValidationError, match="HOTLINE_JWT_SECRET"):
        _settings(environment="production", jwt_secret=weak, telephony_secret=STRONG_B)
    with pytest.raises(ValidationError, match="HOTLINE_TELEPHONY_SECRET"):
        _settings(environment="production", jwt_secret=STRONG_A, telephony_secret=weak)


def test_production_refuses_equal_secrets() -> None:
    with pytest.raises(ValidationError, match="must differ"):
        _settings(environment="production", jwt_secret=STRONG_A, telephony_secret=STRONG_A)


def test_production_refuses_missing_secrets() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        _settings(environment="production", jwt_secret="", telephony_secret=STRONG_B)


def test_production_accepts_strong_distinct_secrets() -> None:
    s = _settings(environment="production", jwt_secret=STRONG_A, telephony_secret=STRONG_B)
    assert s.environment == "production"


@pytest.mark.parametrize("name", ["Production", "prod", "PRODUCTION", "production ", "dev", ""])
def test_unknown_environment_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="HOTLINE_ENVIRONMENT must be exactly one of"):
        _settings(environment=name, jwt_secret=STRONG_A, telephony_secret=STRONG_B)


@pytest.mark.parametrize("name", ["development", "test"])
def test_known_non_production_names_start_with_any_secret(name: str) -> None:
    assert _settings(environment=name, jwt_secret="x", telephony_secret="x").environment == name


def _serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Start the real server command and let it refuse (a refusal exits before any socket)."""
    child = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HOTLINE_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    child |= {"HOTLINE_DATA_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", "serve", "--port", "1"],
        env=child,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"HOTLINE_ENVIRONMENT": "Production"}, "HOTLINE_ENVIRONMENT must be exactly one of"),
        ({"HOTLINE_ENVIRONMENT": "prod"}, "HOTLINE_ENVIRONMENT must be exactly one of"),
        (
            {
                "HOTLINE_ENVIRONMENT": "production",
                "HOTLINE_JWT_SECRET": "aaaaaaaaaaaaaaaa",
                "HOTLINE_TELEPHONY_SECRET": "aaaaaaaaaaaaaaaa",
            },
            "HOTLINE_JWT_SECRET must be at least 32 characters",
        ),
        (
            {
                "HOTLINE_ENVIRONMENT": "production",
                "HOTLINE_JWT_SECRET": STRONG_A,
                "HOTLINE_TELEPHONY_SECRET": STRONG_A,
            },
            "must differ from each other",
        ),
    ],
)
def test_the_server_refuses_to_start(tmp_path: Path, env: dict[str, str], said: str) -> None:
    done = _serve(tmp_path, **env)
    assert done.returncode != 0
    assert said in done.stderr
    # Refused before anything was made: no generated secrets, no database file.
    assert list(tmp_path.iterdir()) == []
