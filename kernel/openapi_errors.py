"""The OpenAPI description of the one error envelope every 4xx and 503 carries.

kernel.errors renders every refusal as ``{"error": <code>, "detail": <detail>}``: a
validation failure's detail is a list of problems naming the field and the rule, a
domain refusal's detail is a sentence or such a list, an outage's detail names the
dependency. FastAPI's generated description knows none of that (it documents its own
``HTTPValidationError`` for 422 and nothing else), so this rewrites the description once:
every operation declares the refusals it can give, all with this envelope.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA = "ErrorOut"
PROBLEM_SCHEMA = "ErrorProblem"
_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}

_COMPONENTS: dict[str, Any] = {
    PROBLEM_SCHEMA: {
        "title": PROBLEM_SCHEMA,
        "type": "object",
        "description": "One thing wrong with a request: the field and the rule it breaks.",
        "required": ["field", "rule"],
        "properties": {
            "field": {"type": "string", "description": "dotted path of the field"},
            "rule": {"type": "string", "description": "the rule it breaks, in words"},
            "type": {"type": ["string", "null"], "description": "machine-readable rule"},
            "location": {
                "type": ["string", "null"],
                "description": "body, query, path, header or form",
            },
        },
    },
    ERROR_SCHEMA: {
        "title": ERROR_SCHEMA,
        "type": "object",
        "description": "Every refusal (4xx) and outage (503) answers with this envelope.",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "description": "a stable code, e.g. invalid_request"},
            "detail": {
                "description": "a sentence, the problems with the input, or what is down",
                "anyOf": [
                    {"type": "string"},
                    {"type": "array", "items": {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA}"}},
                    {"type": "object"},
                    {"type": "null"},
                ],
            },
        },
    },
}

_DESCRIPTIONS = {
    "400": "the body cannot be read (malformed encoding or form)",
    "401": "no credentials, or credentials (token, API key, webhook signature) not valid",
    "403": "the caller's role or hospital may not do this",
    "404": "something the request names does not exist",
    "409": "the request conflicts with the current state",
    "422": "an input breaks a rule; the detail names each field and the rule",
    "429": "too many attempts; wait the Retry-After seconds",
    "503": "a dependency (database or redis) is unreachable; nothing was done, retry",
}
# Routes anyone may call; they cannot answer 401 or 403 for want of a role.
_PUBLIC = {
    ("get", "/healthz"),
    ("get", "/healthz/live"),
    ("get", "/healthz/ready"),
    ("get", "/fhir/metadata"),
    ("get", "/fhir/CodeSystem/bed-capacity"),
}
# FHIR routes refuse with an OperationOutcome (dispatch/fhir), outages excepted.
_FHIR_PREFIX = "/fhir/"
_OUTCOME_SCHEMA = "FhirOperationOutcome"
_OUTCOME = {
    "type": "object",
    "description": "A FHIR R4 OperationOutcome: each issue says which element and why.",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {"type": "array", "items": {"type": "object"}},
    },
}
_SIGN_IN = ("post", "/api/v1/auth/token")


def _refusals(method: str, path: str, operation: dict[str, Any]) -> list[str]:
    if (method, path) in _PUBLIC:
        return ["503"]
    codes = ["400", "401", "404", "422", "503"]
    if (method, path) != _SIGN_IN and not path.startswith("/api/v1/telephony/"):
        codes.append("403")
    if method != "get" or "409" in operation.get("responses", {}):
        codes.append("409")
    if (method, path) == _SIGN_IN:
        codes.append("429")  # kernel/signin_throttle.py
    return codes


def describe_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Declare the error envelope on every operation of an OpenAPI description (in place)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(_COMPONENTS)
    schemas[_OUTCOME_SCHEMA] = _OUTCOME
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code in _refusals(method, path, operation):
                known = responses.get(code, {})
                if "$ref" in str(known.get("content", {})) and code == "503":
                    continue  # /healthz documents its own readiness body
                responses[code] = {
                    "description": known.get("description") or _DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": _REF}},
                }
            if path.startswith(_FHIR_PREFIX):
                for code, answer in responses.items():
                    if code.startswith("4"):
                        outcome = {"$ref": f"#/components/schemas/{_OUTCOME_SCHEMA}"}
                        answer["content"] = {"application/fhir+json": {"schema": outcome}}
                    elif code.startswith("2") and "application/fhir+json" in answer.get(
                        "content", {}
                    ):
                        resource = {"type": "object", "required": ["resourceType"]}
                        answer["content"]["application/fhir+json"] = {"schema": resource}
    # FastAPI's own validation shapes are never sent.
    text = repr(spec["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):
        if f"/{unused}'" not in text:
            schemas.pop(unused, None)
    return spec


def install_error_descriptions(app: FastAPI) -> None:
    """Make app.openapi() describe the envelope (computed once, like FastAPI's own)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            app.openapi_schema = describe_errors(spec)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
