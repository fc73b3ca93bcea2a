"""The generated rule file: in sync with its code, valid for Prometheus, unit-tested, and complete.

promtool is the real binary (Debian package `prometheus`; `make test` installs it).
"""

from __future__ import annotations

import re
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
from tests.promstack import PROMTOOL

PROMTOOL_TESTS = sorted((ROOT / "alerts" / "tests").glob("*.yaml"))
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


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


def cases() -> Iterator[dict[str, Any]]:
    for path in PROMTOOL_TESTS:
        yield from yaml.safe_load(path.read_text())["tests"]


def expectations() -> dict[str, list[list[dict[str, Any]]]]:
    """alertname → the `exp_alerts` lists of every promtool check of it."""
    found: dict[str, list[list[dict[str, Any]]]] = {}
    for case in cases():
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


def held_and_fired() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(alertname, severity) pairs some promtool case shows held by `for`, and shown firing.

    Held: a `promql_expr_test` finds `ALERTS{alertstate="pending"}` for it (the condition is
    true; promtool checks that) at a time when the case's `alert_rule_test` expects it not
    firing in that severity (the `for` has not run out)."""
    held, fired = set(), set()
    for case in cases():
        firing_at: dict[tuple[str, str], set[str]] = {}  # (alertname, eval_time) → severities expected firing
        for check in case.get("alert_rule_test", []):
            severities = {a["exp_labels"].get("severity", "") for a in check.get("exp_alerts") or []}
            firing_at[check["alertname"], str(check["eval_time"])] = severities
            fired |= {(check["alertname"], severity) for severity in severities}
        for query in case.get("promql_expr_test", []):
            for sample in query.get("exp_samples") or []:
                if not sample["labels"].startswith("ALERTS{"):
                    continue
                labels = dict(LABEL.findall(sample["labels"]))
                name, severity = labels.get("alertname", ""), labels.get("severity", "")
                firing = firing_at.get((name, str(query["eval_time"])))
                if labels.get("alertstate") == "pending" and firing is not None and severity not in firing:
                    held.add((name, severity))
    return held, fired


def test_every_alert_with_a_for_is_tested_inside_its_for_window_and_after_it() -> None:
    """Both sides of `for`: the condition already true but the alert not yet firing, then firing."""
    held, fired = held_and_fired()
    for rule in alert_rules():
        if seconds(rule.get("for", "0s")):
            key = (rule["alert"], rule["labels"]["severity"])
            assert key in held, f"{key}: no promtool case shows it pending (ALERTS) while not yet firing"
            assert key in fired, f"{key}: no promtool case expects it to fire"


def test_the_page_worthy_breaker_alert_is_fast_enough_for_the_alert_drill() -> None:
    """The drill opens the query service's embedder breaker and must be paged within 15 s."""
    breakers = {r["labels"]["severity"]: r for r in alert_rules() if r["alert"] == "RagplaneCircuitBreakerOpen"}
    assert set(breakers) == {"critical", "warning"}
    assert seconds(breakers["critical"]["for"]) <= 5
    assert 'service="query",breaker=~"embedder|qdrant"' in breakers["critical"]["expr"]


def test_the_two_breaker_severities_never_cover_the_same_breaker() -> None:
    """The warning takes every breaker the critical one does not (`unless` its scope)."""
    critical, warning = rules.circuit_breaker_open()
    scope = 'service="query",breaker=~"embedder|qdrant"'
    assert scope in critical.expr and scope not in warning.expr.split("unless")[0]
    assert warning.expr.splitlines()[-1].startswith("unless on (service, breaker) ")
    assert scope in warning.expr.splitlines()[-1]
