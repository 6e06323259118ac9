"""The two routes called all day (a gateway's call arrivals, a hospital's bed counts) are
matched before every other route (hotline/app.py). Matched first, they would take any
request meant for another operation whose path they also fit: no documented operation may
be one of those."""

from __future__ import annotations

import re

from starlette.routing import compile_path

from hotline.app import create_app

HOT = {
    ("post", "/api/v1/telephony/calls"),
    ("put", "/api/v1/hospitals/{hospital_id}/beds/{bed_type}"),
}


def _sample(path: str) -> str:
    """A concrete path for a template: each parameter a plain word."""
    return re.sub(r"\{[^}]+\}", "sample", path)


def test_the_routes_matched_first_take_no_other_operation() -> None:
    paths = create_app().openapi()["paths"]
    for method, hot_path in HOT:
        assert method in paths[hot_path], f"{method.upper()} {hot_path} is documented"
        hot_regex = compile_path(hot_path)[0]
        taken = [
            f"{other_method.upper()} {path}"
            for path, operations in paths.items()
            for other_method in operations
            if other_method == method
            and (other_method, path) not in HOT
            and hot_regex.match(_sample(path))
        ]
        assert taken == [], f"{method.upper()} {hot_path} is matched first and would take {taken}"
