"""Real Prometheus and Alertmanager processes for tests, and a webhook that records notifications.

Each runs from the Debian binaries on a free port with a temporary data directory, short
intervals and the production scrape job (`deploy/prometheus/prometheus.yml`'s `ragplane`
job, its targets swapped for the stack under test), so the tests exercise the labels and
rules production uses; Prometheus stores exemplars, as in production. A port taken between
choosing and binding is retried.
"""

from __future__ import annotations

import abc
import contextlib
import copy
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from tests.fakes.receiver import Receiver

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_CONFIG = ROOT / "deploy/prometheus/prometheus.yml"
RULES = ROOT / "deploy/prometheus/rules/ragplane.rules.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy/alertmanager/alertmanager.yml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager") or "/usr/bin/alertmanager"


def rules() -> list[dict[str, Any]]:
    """Every rule of the generated rule file, alerts and recordings."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alert_names() -> set[str]:
    return {rule["alert"] for rule in rules() if "alert" in rule}


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def check_expressions(exprs: Sequence[str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` over `exprs` as recording rules: Prometheus' own parser, no server."""
    recordings = [{"record": f"ragplane_check:expr:{i}", "expr": expr} for i, expr in enumerate(exprs)]
    path = workdir / "expressions.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "expressions", "rules": recordings}]}))
    return subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def host_port(url: str) -> str:
    return urlsplit(url).netloc


def ragplane_job(targets: Mapping[str, str], interval: str) -> dict[str, Any]:
    """The production `ragplane` scrape job, scraping `targets` (service → URL) every `interval`."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    job: dict[str, Any] = copy.deepcopy(next(j for j in config["scrape_configs"] if j["job_name"] == "ragplane"))
    job["static_configs"] = [
        {"targets": [host_port(url)], "labels": {"service": service}} for service, url in targets.items()
    ]
    job.update(scrape_interval=interval, scrape_timeout=interval)
    return job


class _Process(abc.ABC):
    """A server binary on a free port, ready when `/-/ready` answers 200."""

    name = "process"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._log: Any = None

    @abc.abstractmethod
    def command(self, port: int) -> list[str]:
        """The binary and its flags, listening on `port`."""

    def start(self, timeout: float = 30) -> None:
        for _ in range(3):
            port = free_port()
            self._log = (self.workdir / f"{self.name}.log").open("ab")
            try:
                self.proc = subprocess.Popen(self.command(port), stdout=self._log, stderr=subprocess.STDOUT)
            except OSError:
                self.stop()
                raise
            self.url = f"http://127.0.0.1:{port}"
            if self._wait_ready(timeout):
                return
            self.stop()
        raise RuntimeError(f"{self.name} did not start: {self.log()[-2000:]}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/-/ready", timeout=2).status_code == 200:
                    return True
            time.sleep(0.1)
        return False

    def log(self) -> str:
        path = self.workdir / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


class Prometheus(_Process):
    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        targets: Mapping[str, str],
        *,
        rule_files: Sequence[Path] = (RULES,),
        alertmanager: str | None = None,
        interval: str = "1s",
    ) -> None:
        super().__init__(workdir)
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [ragplane_job(targets, interval)],
        }
        if alertmanager:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host_port(alertmanager)]}]}]}
        self.config = workdir / "prometheus.yml"
        self.config.write_text(yaml.safe_dump(config))

    def command(self, port: int) -> list[str]:
        return [
            PROMETHEUS,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage",  # as in production (docker-compose.yml)
            "--log.level=warn",
        ]

    def api(self, path: str, **params: str) -> Any:
        """The `data` of a Prometheus API answer; raises with Prometheus' own error message."""
        body = httpx.get(self.url + "/api/v1/" + path, params=params, timeout=30).json()
        if body.get("status") != "success":
            raise ValueError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        return list(data["result"]) if data["resultType"] == "vector" else [data["result"]]

    def exemplars(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        """The exemplars of the series `expr` selects, timestamped between `start` and `end` (Unix
        seconds): each `{"series": labels, "labels": {"trace_id": ...}, "value": ..., "timestamp": ...}`."""
        data = self.api("query_exemplars", query=expr, start=f"{start:.3f}", end=f"{end:.3f}")
        return [{"series": s["seriesLabels"], **e} for s in data or [] for e in s["exemplars"]]

    def wait_for(self, expr: str, timeout: float = 30) -> list[dict[str, Any]]:
        """The first non-empty answer to `expr` within `timeout` seconds; fails the test otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"Prometheus answered nothing to {expr} within {timeout:g} s")
            time.sleep(0.25)


class Alertmanager(_Process):
    name = "alertmanager"

    def __init__(self, workdir: Path, config: Mapping[str, Any]) -> None:
        super().__init__(workdir)
        self.config = workdir / "alertmanager.yml"
        self.config.write_text(yaml.safe_dump(dict(config)))

    def command(self, port: int) -> list[str]:
        return [
            ALERTMANAGER,
            f"--config.file={self.config}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: one instance
            "--log.level=warn",
        ]


class Webhook(Receiver[dict[str, Any]]):
    """Alertmanager's webhook receiver: each notification, with the time it arrived."""

    def __init__(self) -> None:
        super().__init__(json.loads)

    def alerts(self, alertname: str, status: str) -> Iterator[tuple[float, dict[str, Any], str]]:
        """(arrival time, alert, receiver) for every notified alert with that name and status."""
        for at, payload in list(self.received):
            for alert in payload["alerts"]:
                if alert["labels"].get("alertname") == alertname and alert["status"] == status:
                    yield at, alert, payload["receiver"]

    def wait_for(self, alertname: str, status: str, timeout: float) -> tuple[float, dict[str, Any], str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next(self.alerts(alertname, status), None)
            if found is not None:
                return found
            time.sleep(0.05)
        raise TimeoutError(f"no {status} {alertname} notification within {timeout:g} s: {self.received}")


def production_routing(url: str, *, interval: str = "1s") -> dict[str, Any]:
    """The production routes and inhibitions with every receiver a webhook to `url` (resolved
    notifications included) and every wait cut to `interval`: a drill measures the rules and
    the pipeline, and checks which receiver each alert reaches, without real notifiers."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    config.pop("global", None)  # secret files and SMTP settings of the real notifiers
    config["receivers"] = [
        {"name": r["name"], "webhook_configs": [{"url": url, "send_resolved": True}]} for r in config["receivers"]
    ]
    routes = [config["route"]]
    while routes:
        route = routes.pop()
        for key in ("group_wait", "group_interval"):
            if key in route or route is config["route"]:
                route[key] = interval
        routes.extend(route.get("routes", []))
    return config
