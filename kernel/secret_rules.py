"""What the settings refuse: unknown environment names, and secrets too weak for production.

A typo in HOTLINE_ENVIRONMENT ("Production", "prod") used to run the service in development
mode with generated secrets; now only the exact names below start. In production both secrets
must be long, varied, different from each other and from every value this repository ships
(the test, bench and demo values are public, so they are no secret).
"""

from __future__ import annotations

ENVIRONMENTS = ("development", "test", "production")
MIN_SECRET_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 10
SECRET_NAMES = ("jwt_secret", "telephony_secret")

# Values printed in this repository (tests, bench, examples): public, so never a secret.
KNOWN_PUBLIC_SECRETS = frozenset(
    {
        "test-jwt-secret-0123456789abcdef",
        "test-telephony-secret-0123456789",
        "bench-jwt-secret-0123456789abcdef",
        "bench-telephony-secret-012345",
    }
)
# Words that mark a value as a placeholder someone forgot to replace.
PLACEHOLDER_WORDS = (
    "changeme",
    "change-me",
    "change_me",
    "placeholder",
    "replaceme",
    "replace-me",
    "example",
    "your-secret",
    "yoursecret",
    "password",
    "secret-here",
)


def environment_problem(name: str) -> str | None:
    if name not in ENVIRONMENTS:
        return (
            f"HOTLINE_ENVIRONMENT must be exactly one of {', '.join(ENVIRONMENTS)} "
            f"(case matters); got {name!r}"
        )
    return None


def _repeats_a_short_unit(value: str) -> bool:
    """'abcabcabc...' or 'aaaa...': the whole value is one short unit repeated."""
    for unit in range(1, 9):
        if len(value) % unit == 0 and value[:unit] * (len(value) // unit) == value:
            return True
    return False


def secret_problem(env_name: str, value: str) -> str | None:
    """Why `value` is not good enough as a production secret (None if it is)."""
    lowered = value.lower()
    if value in KNOWN_PUBLIC_SECRETS:
        return f"{env_name} is a value published in this repository (a test or demo value)"
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        return f"{env_name} is a placeholder; set a real random secret"
    if len(value) < MIN_SECRET_LENGTH:
        return f"{env_name} must be at least {MIN_SECRET_LENGTH} characters"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS or _repeats_a_short_unit(value):
        return (
            f"{env_name} has too little variety (repeated characters or a repeated pattern); "
            "generate one, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`"
        )
    return None


def production_secret_problems(secrets_by_name: dict[str, str]) -> list[str]:
    problems = [
        p
        for name, value in secrets_by_name.items()
        if (p := secret_problem(f"HOTLINE_{name.upper()}", value))
    ]
    values = list(secrets_by_name.values())
    if len(set(values)) < len(values):
        problems.append(
            " and ".join(f"HOTLINE_{n.upper()}" for n in secrets_by_name)
            + " must differ from each other"
        )
    return problems
