"""The alert drill: a dependency fault pages on-call through real Prometheus and Alertmanager.

The production rule file and the production routes and inhibitions run unchanged; only the
intervals are short (1 s scrape and evaluation, 1 s group_wait) and every receiver is the
test's webhook, so the measured fault → page time is the rules' own `for` plus the pipeline,
and the page must reach the receiver production routes it to. The drill is the same code
`ragplane drill alert` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragplane.cli import main
from ragplane.errors import DrillError
from ragplane.ops.alert_drill import ALERT, AlertDrill
from ragplane.ops.drill import Drill
from ragplane.ops.ingest import IngestClient, Source, run
from ragplane.telemetry.runbooks import runbook_url
from tests.integration.conftest import stack_settings
from tests.promstack import Alertmanager, Prometheus, Webhook, production_routing
from tests.running import RunningStack

pytestmark = pytest.mark.drill
ROOT = Path(__file__).resolve().parents[2]
PAGE_WITHIN_S = 15
COLLECTION = "drill"


class Pipeline:
    def __init__(self, stack: RunningStack, prometheus: Prometheus, alertmanager: Alertmanager, webhook: Webhook):
        self.stack, self.prometheus, self.alertmanager, self.webhook = stack, prometheus, alertmanager, webhook

    def drill(self, say) -> AlertDrill:
        breaker = Drill(
            service_url=self.stack.urls["query"],
            gateway_url=self.stack.urls["gateway"],
            token=self.stack.settings.service_token or "",
            dependency="embedder",
            say=say,
            collection=COLLECTION,
        )
        return AlertDrill(breaker, self.prometheus.url, self.alertmanager.url, say, timeout_s=60)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, embedding_model: object) -> Iterator[Pipeline]:
    tmp = tmp_path_factory.mktemp("drill")
    with contextlib.ExitStack() as cleanup:
        stack = RunningStack(stack_settings(tmp / "data", CIRCUIT_BREAKER_RECOVERY_S="300")).start()
        cleanup.callback(stack.stop)
        webhook = Webhook()
        cleanup.callback(webhook.stop)
        alertmanager = Alertmanager(tmp / "alertmanager", production_routing(webhook.url))
        cleanup.callback(alertmanager.stop)
        alertmanager.start()
        prometheus = Prometheus(tmp / "prometheus", stack.urls, alertmanager=alertmanager.url)
        cleanup.callback(prometheus.stop)
        prometheus.start()

        async def seed() -> None:
            async with IngestClient(stack.urls["collections"], service_token=stack.settings.service_token) as client:
                summary = await run(client, [Source(ROOT / "docs/resilience.md", "docs")], COLLECTION, progress=False)
                assert summary.failed == 0, summary

        asyncio.run(seed())
        prometheus.wait_for('up{job="ragplane",service="query"} == 1')
        yield Pipeline(stack, prometheus, alertmanager, webhook)


def test_a_dependency_fault_pages_within_15_seconds_and_resolves(pipeline: Pipeline, measured) -> None:
    lines: list[str] = []
    timings = pipeline.drill(lines.append).run()

    arrived, alert, receiver = pipeline.webhook.wait_for(ALERT, "firing", timeout=5)
    page_s = arrived - timings.fault_at
    measured(
        f"alert drill: fault → page (webhook) {page_s:.1f} s, target < {PAGE_WITHIN_S} s; breaker open "
        f"{timings.breaker_open:.1f} s, firing {timings.firing:.1f} s, recovery → resolved {timings.resolved:.1f} s"
    )
    assert page_s < PAGE_WITHIN_S
    assert alert["labels"]["severity"] == "critical"
    assert receiver == "pagerduty-slack"  # the production route of a critical alert
    assert alert["labels"]["service"] == "query"
    assert alert["labels"]["breaker"] == "embedder"
    assert alert["annotations"]["runbook_url"] == runbook_url(ALERT)
    assert alert["annotations"]["summary"] and alert["annotations"]["description"]

    assert timings.notified is not None  # the drill saw Alertmanager send it, as the CLI reports
    assert any(line.startswith(f"fault → page {timings.notified:.1f} s") for line in lines)
    resolved_at, _, _ = pipeline.webhook.wait_for(ALERT, "resolved", timeout=30)
    assert resolved_at > arrived


def test_the_drill_refuses_unreachable_monitoring(pipeline: Pipeline) -> None:
    drill = pipeline.drill(lambda _: None)
    drill.prometheus_url = "http://127.0.0.1:9"
    with pytest.raises(DrillError, match="Prometheus is not ready"):
        drill.run()


def test_the_cli_reports_a_drill_that_cannot_start(pipeline: Pipeline, capsys, tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(f"INTER_SERVICE_SECRET={pipeline.stack.settings.service_token}\n")
    code = main(["--env-file", str(env), "drill", "alert", "--prometheus", "http://127.0.0.1:9", "--timeout", "1"])
    assert code == 1
    assert "Prometheus is not ready at http://127.0.0.1:9/-/ready" in capsys.readouterr().err


def test_no_page_and_a_dead_endpoint_are_reported_not_hidden(pipeline: Pipeline) -> None:
    lines: list[str] = []
    drill = pipeline.drill(lines.append)
    drill.hold_s, drill.timeout_s = 0.5, 0.5
    assert drill._wait_for_page(drill._notifications()) is None  # nothing firing: nothing sent
    assert "Alertmanager sent nothing within 0.5 s" in lines[-1]
    drill.prometheus_url = "http://127.0.0.1:9"
    with pytest.raises(DrillError, match=r"gave up waiting for Prometheus .* \(last error: .*\)"):
        drill._wait(drill._firing, "Prometheus to fire")
