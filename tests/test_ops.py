"""The operations files: alert rules and the Prometheus config pass promtool, every metric an
alert or a dashboard panel names is one the app exposes, and the compose file stays valid."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import ROOT

OPS = ROOT / "ops"
ALERTS = OPS / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((OPS / "grafana" / "dashboards").glob("*.json"))
METRIC = re.compile(r"\bhotline_[a-z0-9_]+")


def alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}


def panel_expressions() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found[f"{path.name}: {panel['title']} {target['refId']}"] = target["expr"]
    return found


def exposed_names(client: Any) -> set[str]:
    """Every series name /metrics can show, including a histogram's and a counter's suffixes."""
    client.get("/healthz")  # so the HTTP families have a series
    res = client.get("/metrics")
    assert res.status_code == 200
    names: set[str] = set()
    for family in text_string_to_metric_families(res.text):
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names |= {family.name + s for s in ("_bucket", "_sum", "_count")}
    return names


def test_every_alert_has_a_runbook_line_and_a_summary():
    rules = yaml.safe_load(ALERTS.read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"]]
    assert len(alerts) >= 8
    for rule in alerts:
        assert rule["annotations"]["runbook"].strip(), rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["labels"]["severity"] in ("page", "warning"), rule["alert"]


def test_every_metric_an_alert_or_panel_names_is_exposed(client):
    exposed = exposed_names(client)
    named = {**alert_expressions(), **panel_expressions()}
    assert len(named) > 30
    missing = {
        where: sorted(set(METRIC.findall(expr)) - exposed)
        for where, expr in named.items()
        if set(METRIC.findall(expr)) - exposed
    }
    assert not missing, missing
    # Every alert and panel names at least one of ours (a typo'd name matches nothing).
    assert all(METRIC.search(expr) for expr in named.values())


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus) absent")
def test_promtool_accepts_the_rules_and_the_config():
    for args in (["check", "rules", str(ALERTS)], ["check", "config", "prometheus.yml"]):
        done = subprocess.run(
            ["promtool", *args],
            cwd=OPS / "prometheus",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose absent")
def test_the_compose_file_with_the_monitoring_profile_is_valid():
    env = {**os.environ, "HOTLINE_JWT_SECRET": "x" * 16, "HOTLINE_TELEPHONY_SECRET": "y" * 16}
    for args in (["config", "-q"], ["--profile", "monitoring", "config", "--services"]):
        done = subprocess.run(
            ["docker-compose", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    assert {"prometheus", "grafana"} <= set(done.stdout.split())


def test_grafana_is_provisioned_with_the_dashboard_and_prometheus():
    assert DASHBOARDS
    for path in DASHBOARDS:
        dash = json.loads(path.read_text())
        assert dash["uid"] and dash["panels"]
    datasources = yaml.safe_load(
        (OPS / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    uid = datasources["datasources"][0]["uid"]
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == uid, panel["title"]
