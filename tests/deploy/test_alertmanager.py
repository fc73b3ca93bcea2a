"""deploy/alertmanager/alertmanager.yml: checked by the real amtool and Alertmanager, never holding a secret.

amtool reads no receiver secret file (Alertmanager reads them when it notifies), so the committed
file is checked as it is; the running Alertmanager gets a copy whose receivers send nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.promstack import Alertmanager

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy/alertmanager/alertmanager.yml"
SECRETS = ROOT / "deploy/alertmanager/secrets"
SECRETS_MOUNT = "/etc/alertmanager/secrets/"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"
# Keys whose value is a credential; each has a `*_file` twin the config must use instead.
SECRET_KEYS = {
    "api_url",
    "slack_api_url",
    "routing_key",
    "service_key",
    "auth_password",
    "smtp_auth_password",
    "auth_secret",
    "smtp_auth_secret",
    "api_key",
    "opsgenie_api_key",
    "victorops_api_key",
    "bot_token",
    "token",
    "password",
}


def config() -> dict[str, Any]:
    return dict(yaml.safe_load(CONFIG.read_text()))


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, timeout=60, check=False)


def items(node: object) -> Iterator[tuple[str, object]]:
    """Every (key, value) pair of a parsed YAML document, at any depth."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield str(key), value
            yield from items(value)
    elif isinstance(node, list):
        for value in node:
            yield from items(value)


def test_amtool_accepts_the_config() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"severity": "critical", "alertname": "RagplaneCircuitBreakerOpen", "service": "query"}, "pagerduty-slack"),
        ({"severity": "critical", "alertname": "RagplaneServiceDown", "service": "gateway"}, "pagerduty-slack"),
        ({"severity": "warning", "alertname": "RagplaneSlowQueries", "service": "query"}, "slack-email"),
        ({"severity": "warning", "alertname": "RagplaneInstanceDown", "service": "query"}, "slack-email"),
        ({"severity": "info", "alertname": "RagplaneSomethingToKnow", "service": "collections"}, "null"),
        # A rule without a known severity is a bug, but its alert still reaches people.
        ({"alertname": "RagplaneUnlabelled", "service": "query"}, "slack-email"),
        ({"severity": "page", "alertname": "RagplaneMislabelled", "service": "query"}, "slack-email"),
    ],
    ids=[
        "critical",
        "critical-service-down",
        "warning",
        "warning-instance-down",
        "info",
        "no-severity",
        "unknown-severity",
    ],
)
def test_each_severity_reaches_its_receiver(labels: dict[str, str], receiver: str) -> None:
    pairs = [f"{name}={value}" for name, value in labels.items()]
    result = amtool("config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={receiver}", *pairs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_amtool_route_verification_does_fail_on_a_wrong_receiver() -> None:
    """The routing tests above mean something only if a mismatch fails."""
    result = amtool(
        "config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=null", "severity=critical"
    )
    assert result.returncode != 0


def test_receivers_hold_the_promised_integrations() -> None:
    receivers = {r["name"]: {k for k in r if k.endswith("_configs")} for r in config()["receivers"]}
    assert receivers == {
        "pagerduty-slack": {"pagerduty_configs", "slack_configs"},
        "slack-email": {"slack_configs", "email_configs"},
        "null": set(),
    }


def test_grouping_and_timing() -> None:
    """One notification per alert name and service; critical alerts wait 10 s, new or joining a group that
    already paged (the notification budget's share); warnings keep the root's timing."""
    route = config()["route"]
    assert route["group_by"] == ["alertname", "service"]
    assert route["group_interval"] == "5m"
    assert (route["group_wait"], route["repeat_interval"]) == ("30s", "12h")
    critical = next(r for r in route["routes"] if r["matchers"] == ['severity="critical"'])
    assert (critical["group_wait"], critical["group_interval"], critical["repeat_interval"]) == ("10s", "10s", "4h")
    warning = next(r for r in route["routes"] if r["matchers"] == ['severity="warning"'])
    assert not {"group_wait", "group_interval", "repeat_interval"} & set(warning)
    assert not any(r.get("continue") for r in route["routes"]), "one receiver per severity, no fall-through"


def test_no_secret_is_written_in_the_file() -> None:
    for key, value in items(config()):
        assert key not in SECRET_KEYS, f"{key} holds a secret inline: use {key}_file under {SECRETS_MOUNT}"
        if key.endswith("_file"):
            assert isinstance(value, str) and value.startswith(SECRETS_MOUNT), f"{key}: {value}"
            name = value.removeprefix(SECRETS_MOUNT)
            assert f"`{name}`" in (SECRETS / "README.md").read_text(), f"document {name} in {SECRETS}/README.md"


def test_the_secrets_directory_is_ignored_by_git_but_its_readme() -> None:
    def ignored(name: str) -> bool:
        path = (SECRETS / name).relative_to(ROOT)
        result = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT, check=False)
        assert result.returncode in (0, 1), "git check-ignore failed"
        return result.returncode == 0

    files = [str(v).removeprefix(SECRETS_MOUNT) for k, v in items(config()) if k.endswith("_file")]
    assert files
    assert all(ignored(name) for name in files)
    assert not ignored("README.md")


def test_the_notification_templates_render(tmp_path: Path) -> None:
    """Each templated field renders with a real alert's labels and annotations, the runbook link included."""
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": "RagplaneCircuitBreakerOpen", "service": "query", "severity": "critical"},
        "annotations": {
            "summary": "A circuit breaker is open",
            "description": "The embedder breaker of query is open",
            "runbook_url": "https://example.org/runbooks/ragplanecircuitbreakeropen.md",
        },
        "startsAt": "2025-01-01T00:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "0123456789abcdef",
    }
    data = {
        "receiver": "pagerduty-slack",
        "status": "firing",
        "alerts": [alert],
        "groupLabels": {k: alert["labels"][k] for k in ("alertname", "service")},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager:9093",
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    (tmp_path / "none.tmpl").write_text("")
    receivers = {r["name"]: r for r in config()["receivers"]}
    pagerduty = receivers["pagerduty-slack"]["pagerduty_configs"][0]
    slack = receivers["pagerduty-slack"]["slack_configs"][0]
    fields = {
        "pagerduty description": (pagerduty["description"], "A circuit breaker is open"),
        "pagerduty link": (pagerduty["links"][0]["href"], alert["annotations"]["runbook_url"]),
        "slack title": (slack["title"], "[FIRING] RagplaneCircuitBreakerOpen on query"),
        "slack text": (slack["text"], alert["annotations"]["runbook_url"]),
    }
    for field, (template, expected) in fields.items():
        result = amtool(
            "template",
            "render",
            f"--template.glob={tmp_path / 'none.tmpl'}",
            f"--template.data={tmp_path / 'data.json'}",
            f"--template.text={template}",
        )
        assert result.returncode == 0, f"{field}: {result.stderr}"
        assert expected in result.stdout, f"{field} rendered {result.stdout!r}"


# Alerts posted to a real Alertmanager running the production routes and inhibition rules.
ALERTS = {
    # Every query replica down: query's other alerts are consequences.
    "query down": {"alertname": "RagplaneServiceDown", "service": "query", "severity": "critical"},
    "query breaker": {
        "alertname": "RagplaneCircuitBreakerOpen",
        "service": "query",
        "severity": "critical",
        "breaker": "embedder",
    },
    "query instance down": {
        "alertname": "RagplaneInstanceDown",
        "service": "query",
        "severity": "warning",
        "instance": "query:8001",
    },
    # One collections replica down of several: the healthy replicas' alerts still notify.
    "collections instance down": {
        "alertname": "RagplaneInstanceDown",
        "service": "collections",
        "severity": "warning",
        "instance": "collections:8002",
    },
    "collections breaker": {
        "alertname": "RagplaneCircuitBreakerOpen",
        "service": "collections",
        "severity": "warning",
        "breaker": "embedder",
    },
    "gateway breaker": {"alertname": "RagplaneCircuitBreakerOpen", "service": "gateway", "severity": "critical"},
    # A paging breaker does not mute another breaker's ticket of the same service: other dependency.
    "gateway cache breaker": {
        "alertname": "RagplaneCircuitBreakerOpen",
        "service": "gateway",
        "severity": "warning",
        "breaker": "cache",
    },
    "collections errors page": {"alertname": "RagplaneHighErrorRate", "service": "collections", "severity": "critical"},
    "collections errors ticket": {
        "alertname": "RagplaneHighErrorRate",
        "service": "collections",
        "severity": "warning",
    },
    "collections slow": {"alertname": "RagplaneSlowQueries", "service": "collections", "severity": "warning"},
    "down without service": {"alertname": "RagplaneServiceDown", "job": "qdrant", "severity": "critical"},
    "other without service": {"alertname": "RagplaneRegistryFallbackActive", "severity": "warning"},
}
INHIBITED = {"query breaker", "query instance down", "collections errors ticket"}


def silent(routing: Mapping[str, Any]) -> dict[str, Any]:
    """The production config with receivers that keep their names and send nothing."""
    return {**routing, "global": {}, "receivers": [{"name": r["name"]} for r in routing["receivers"]]}


def inhibited_alerts(url: str) -> set[str]:
    names = {tuple(sorted(labels.items())): name for name, labels in ALERTS.items()}
    found = httpx.get(url + "/api/v2/alerts", timeout=10).json()
    return {names[tuple(sorted(a["labels"].items()))] for a in found if a["status"]["inhibitedBy"]}


def test_service_down_and_critical_alerts_inhibit_what_they_explain(tmp_path: Path) -> None:
    """ServiceDown mutes its service's alerts; a single replica's InstanceDown mutes nothing."""
    alertmanager = Alertmanager(tmp_path, silent(config()))
    alertmanager.start()
    try:
        posted = httpx.post(
            alertmanager.url + "/api/v2/alerts", json=[{"labels": labels} for labels in ALERTS.values()], timeout=10
        )
        assert posted.status_code == 200, posted.text
        deadline = time.monotonic() + 15
        while (inhibited := inhibited_alerts(alertmanager.url)) != INHIBITED and time.monotonic() < deadline:
            time.sleep(0.1)
        assert inhibited == INHIBITED
    finally:
        alertmanager.stop()
