"""Alert and recording rules as data: what they refuse, and their rule-file shape."""

from __future__ import annotations

import pytest

from alerts.expr import by
from alerts.model import Alert, Recording, seconds


@pytest.mark.parametrize(("duration", "value"), [("0s", 0), ("5s", 5), ("1m", 60), ("1h30m", 5400), ("3d", 259200)])
def test_seconds_reads_prometheus_durations(duration: str, value: float) -> None:
    assert seconds(duration) == value


@pytest.mark.parametrize("duration", ["", "5", "1.5m", "5 s", "1x"])
def test_seconds_refuses_what_prometheus_would(duration: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        seconds(duration)


def alert(**change: str) -> Alert:
    fields = {"name": "RagplaneThingBroken", "expr": "up == 0", "summary": "Broken", "description": "{{ $value }}"}
    return Alert(**{**fields, "severity": "warning", **change})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "ThingBroken"}, "Ragplane<Component><Symptom>"),
        ({"name": "Ragplanething"}, "Ragplane<Component><Symptom>"),
        ({"severity": "page"}, "severity 'page'"),
        ({"summary": "{{ $labels.service }} broke"}, "the summary is fixed text"),
        ({"for_": "five minutes"}, "not a Prometheus duration"),
    ],
)
def test_an_alert_refuses_bad_names_severities_summaries_and_durations(change: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        alert(**change)


def test_an_alert_rule_carries_severity_and_a_runbook_url_from_its_name() -> None:
    rule = alert(for_="5m").rule()
    assert rule["for"] == "5m"
    assert rule["labels"] == {"severity": "warning"}
    assert rule["annotations"]["runbook_url"].endswith("/runbooks/ragplanethingbroken.md")
    assert "for" not in alert().rule()


def test_a_recording_rule_is_named_level_metric_operations() -> None:
    assert Recording("ragplane_slo:x:ratio", "1").rule() == {"record": "ragplane_slo:x:ratio", "expr": "1"}
    with pytest.raises(ValueError, match="ragplane<level>:<metric>:<operations>"):
        Recording("slo:x:ratio", "1")


def test_aggregations_keep_the_service_label() -> None:
    assert by(["service", "cache"], "x") == "sum by (service, cache) (x)"
    with pytest.raises(ValueError, match="keep `service`"):
        by(["cache"], "x")
