"""The API describes itself: every operation's success body is a named schema."""

from __future__ import annotations

from typing import Any

from hotline.app import create_app


def _typed(schema: dict[str, Any]) -> bool:
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _typed(schema.get("items", {}))
    if "anyOf" in schema:
        return all(_typed(s) or s.get("type") == "null" for s in schema["anyOf"])
    return False


def test_every_operation_declares_the_schema_of_what_it_answers():
    spec = create_app().openapi()
    untyped = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for code, response in op.get("responses", {}).items():
                content = response.get("content", {})
                if not code.startswith("2") or "application/json" not in content:
                    continue
                if not _typed(content["application/json"].get("schema", {})):
                    untyped.append(f"{method.upper()} {path} {code}")
    assert untyped == []
