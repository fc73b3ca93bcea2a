"""deploy/prometheus/prometheus.yml: valid for promtool with the generated rules, and fast enough to page in 60 s."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
from typing import Any

import yaml

from alerts.model import seconds
from tests.promstack import PROMTOOL

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy/prometheus/prometheus.yml"
RULES = ROOT / "deploy/prometheus/rules"
ALERTMANAGER = ROOT / "deploy/alertmanager/alertmanager.yml"
DOC = ROOT / "docs/alerting.md"
BUDGET_S = 60


def load(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def critical_alerts() -> dict[str, str]:
    """The `for` of every critical alert of the generated rule files."""
    out = {}
    for path in sorted(RULES.glob("*.yml")):
        for group in load(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule and rule.get("labels", {}).get("severity") == "critical":
                    assert rule["alert"] not in out, f"two critical {rule['alert']} rules"
                    out[rule["alert"]] = rule.get("for", "0s")
    return out


def held_s(hold: str) -> float:
    """`for` as Prometheus holds it: rounded up to whole evaluations, where it is checked."""
    evaluation = seconds(load(CONFIG)["global"]["evaluation_interval"])
    return math.ceil(seconds(hold) / evaluation) * evaluation


def worst_case_s() -> dict[str, tuple[float, float]]:
    """Seconds from a critical alert's condition to its receiver, at worst (docs/alerting.md explains each term):
    as the first alert of a new group, and as one joining a group that has already notified.

    A scrape just missed (interval, plus the timeout of a hung target), an evaluation just
    missed, `for` rounded up to whole evaluations, then Alertmanager's group_wait (a new
    group) or group_interval (the group's next flush)."""
    timing = {k: seconds(v) for k, v in load(CONFIG)["global"].items()}
    critical = next(r for r in load(ALERTMANAGER)["route"]["routes"] if r["matchers"] == ['severity="critical"'])
    path = timing["scrape_interval"] + timing["scrape_timeout"] + timing["evaluation_interval"]
    first, joining = seconds(critical["group_wait"]), seconds(critical["group_interval"])
    return {
        name: (path + held_s(hold) + first, path + held_s(hold) + joining) for name, hold in critical_alerts().items()
    }


def test_promtool_accepts_the_config_with_the_generated_rules(tmp_path: Path) -> None:
    """The production file, its rule glob pointed at the repository's rules (the container path elsewhere)."""
    config = load(CONFIG)
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    config["rule_files"] = [str(RULES / "*.yml")]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(yaml.safe_dump(config))
    result = subprocess.run([PROMTOOL, "check", "config", str(copy)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_intervals() -> None:
    assert load(CONFIG)["global"] == {"scrape_interval": "10s", "scrape_timeout": "5s", "evaluation_interval": "10s"}


def test_every_ragplane_target_names_its_service() -> None:
    job = next(j for j in load(CONFIG)["scrape_configs"] if j["job_name"] == "ragplane")
    assert job["honor_labels"] is True
    for group in job["static_configs"]:
        assert [t.split(":")[0] for t in group["targets"]] == [group["labels"]["service"]]


def test_critical_alerts_reach_their_receiver_in_under_a_minute() -> None:
    worst = worst_case_s()
    assert worst, f"no critical alert in {RULES}"
    slow = {name: paths for name, paths in worst.items() if max(paths) >= BUDGET_S}
    assert not slow, f"worst-case seconds to the receiver (new group, joining one) not under {BUDGET_S} s: {slow}"


def test_the_documented_notification_times_are_the_real_ones() -> None:
    """docs/alerting.md has one row per critical alert: name, `for`, rounded `for`, both worst cases."""
    rows = {
        cells[0].strip("`"): cells[1:]
        for line in DOC.read_text().splitlines()
        if line.startswith("| `Ragplane") and len(cells := [c.strip() for c in line.strip("|").split("|")]) == 5
    }
    expected = {
        name: [hold, f"{held_s(hold):g} s", *(f"{s:g} s" for s in worst_case_s()[name])]
        for name, hold in critical_alerts().items()
    }
    assert rows == expected
