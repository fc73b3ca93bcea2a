"""The generated rule file: in sync with its code, valid for Prometheus, unit-tested, and complete.

promtool is the real binary (Debian package `prometheus`; `make test` installs it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts import rules
from alerts.model import NAME, SEVERITIES, seconds
from alerts.render import OUTPUT, ROOT, render
from ragplane.telemetry.promql import unknown_metrics
from ragplane.telemetry.runbooks import runbook_path, runbook_url

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMTOOL_TESTS = sorted((ROOT / "alerts" / "tests").glob("*.yaml"))
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
# Production timing when the configs do not say (docs/alerting.md's notification budget).
DEFAULT_TIMING = {"scrape_interval": "10s", "scrape_timeout": "5s", "evaluation_interval": "10s"}
DEFAULT_GROUP_WAIT = "10s"
PAGE_BUDGET_S = 60
CRITICAL = re.compile(r'severity=~?"?critical')


def committed() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(OUTPUT.read_text())
    return document


def all_rules() -> Iterator[dict[str, Any]]:
    for group in committed()["groups"]:
        yield from group["rules"]


def alert_rules() -> list[dict[str, Any]]:
    return [r for r in all_rules() if "alert" in r]


def promtool(*args: str) -> None:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool is missing: install the Debian package `prometheus` (make test does)")
    done = subprocess.run([PROMTOOL, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def test_the_committed_rule_file_is_what_the_generator_writes() -> None:
    assert OUTPUT.read_text() == render(), "the rule file drifted from alerts/: run `python -m alerts`"


def test_promtool_accepts_the_rule_file() -> None:
    promtool("check", "rules", str(OUTPUT.relative_to(ROOT)))


def test_the_promtool_unit_tests_pass() -> None:
    assert PROMTOOL_TESTS
    promtool("test", "rules", *(str(p.relative_to(ROOT)) for p in PROMTOOL_TESTS))


def test_every_alert_is_named_labelled_annotated_and_has_a_runbook() -> None:
    alerts = alert_rules()
    assert {r["alert"] for r in alerts} >= {a.name for a in rules.ALERTS}
    for rule in alerts:
        name = rule["alert"]
        assert NAME.fullmatch(name), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook_url"}, name
        assert "{{" not in annotations["summary"], f"{name}: the summary is fixed text"
        assert "{{" in annotations["description"], f"{name}: the description says which service and how bad"
        assert annotations["runbook_url"] == runbook_url(name)
        assert (ROOT / runbook_path(name)).is_file(), f"{name} has no runbook at {runbook_path(name)}"


def test_every_expression_names_only_catalogue_external_or_recorded_metrics() -> None:
    recorded = {r["record"] for r in all_rules() if "record" in r}
    for rule in all_rules():
        assert not unknown_metrics(rule["expr"], recorded=recorded), rule.get("alert") or rule.get("record")


def test_every_rule_keeps_the_service_label() -> None:
    """Aggregations keep `service`; rules over unaggregated series select ones that have it."""
    for rule in all_rules():
        expr = rule["expr"]
        keeps = "by (service" in expr or "ragplane_slo:" in expr or 'up{job="ragplane"}' in expr
        assert keeps or "service" in rule.get("labels", {}), rule.get("alert") or rule.get("record")


def expectations() -> dict[str, list[list[dict[str, Any]]]]:
    """alertname → the `exp_alerts` lists of every promtool check of it."""
    found: dict[str, list[list[dict[str, Any]]]] = {}
    for path in PROMTOOL_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                found.setdefault(check["alertname"], []).append(check.get("exp_alerts") or [])
    return found


def test_every_alert_is_tested_firing_with_its_labels_and_annotations_and_not_firing() -> None:
    tested = expectations()
    for name in sorted({r["alert"] for r in alert_rules()}):
        checks = tested.get(name, [])
        firing = [alert for check in checks for alert in check]
        assert firing, f"{name}: no promtool case expects it to fire"
        assert any(not check for check in checks), f"{name}: no promtool case expects it to stay quiet"
        for alert in firing:
            assert {"severity", "service"} <= set(alert["exp_labels"]), f"{name}: {alert['exp_labels']}"
            assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}, name


def timing() -> dict[str, float]:
    """The production scrape and evaluation timing of the `ragplane` job, in seconds."""
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text()) if PROMETHEUS_CONFIG.exists() else {}
    settings = {**DEFAULT_TIMING, **(config.get("global") or {})}
    jobs: list[dict[str, Any]] = config.get("scrape_configs") or []
    job: dict[str, Any] = next((j for j in jobs if j.get("job_name") == "ragplane"), {})
    settings.update({k: v for k, v in job.items() if k in DEFAULT_TIMING})
    return {k: seconds(str(settings[k])) for k in DEFAULT_TIMING}


def critical_group_wait() -> float:
    """group_wait of Alertmanager's route for critical alerts (or its root route)."""
    if not ALERTMANAGER_CONFIG.exists():
        return seconds(DEFAULT_GROUP_WAIT)
    route = yaml.safe_load(ALERTMANAGER_CONFIG.read_text()).get("route") or {}
    routes: list[dict[str, Any]] = route.get("routes") or []
    critical: dict[str, Any] = next((r for r in routes if any(CRITICAL.search(m) for m in r.get("matchers", []))), {})
    return seconds(str(critical.get("group_wait") or route.get("group_wait") or DEFAULT_GROUP_WAIT))


def test_critical_alerts_reach_alertmanager_receivers_within_60_seconds() -> None:
    """Worst case: a fault just after a scrape, seen one interval later, evaluated one interval
    after that, held for `for`, then grouped for group_wait before the first notification."""
    t = timing()
    path = t["scrape_interval"] + t["scrape_timeout"] + t["evaluation_interval"] + critical_group_wait()
    for rule in alert_rules():
        if rule["labels"]["severity"] == "critical":
            worst = path + seconds(rule.get("for", "0s"))
            assert worst < PAGE_BUDGET_S, f"{rule['alert']}: worst case {worst:g} s to the receiver"


def test_the_breaker_alert_is_fast_enough_for_the_alert_drill() -> None:
    breaker = next(r for r in alert_rules() if r["alert"] == "RagplaneCircuitBreakerOpen")
    assert seconds(breaker["for"]) <= 5
