"""slos.yaml: what the loader refuses, and the recording rules and burn-rate alerts it becomes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import yaml

from alerts import slos
from alerts.model import Alert, Recording
from alerts.render import render

GOOD: dict[str, Any] = {
    "name": "search-availability",
    "alert": "RagplaneSearchAvailabilityBudgetBurn",
    "summary": "searches answered without a server error",
    "service": "query",
    "routes": ["/api/v1/rag/search", "/rag/search"],
    "sli": "availability",
    "objective": 99.9,
}
LATENCY: dict[str, Any] = {
    **GOOD,
    "name": "search-latency",
    "alert": "RagplaneSearchLatencyBudgetBurn",
    "sli": "latency",
    "threshold_s": 0.5,
}


def document(*entries: dict[str, Any]) -> str:
    return yaml.safe_dump({"slos": list(entries)})


def test_the_shipped_slos_cover_search_and_qa_availability_and_latency_on_the_query_service() -> None:
    loaded = slos.load()
    assert {(s.name, s.sli) for s in loaded} == {
        ("search-availability", "availability"),
        ("search-latency", "latency"),
        ("qa-availability", "availability"),
        ("qa-latency", "latency"),
    }
    assert {s.service for s in loaded} == {"query"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"objective": 100}, "objective must be a percentage above 0 and below 100"),
        ({"objective": 0}, "objective must be a percentage above 0 and below 100"),
        ({"objective": 120}, "got 120"),
        ({"objective": -5}, "objective must be a percentage"),
        ({"objective": "high"}, "objective must be a number"),
        ({"objective": True}, "objective must be a number"),
        ({"objective": None}, "objective must be a number"),
        ({"sli": "throughput"}, "sli must be availability or latency"),
        ({"threshold_s": 0.5}, "threshold_s applies to latency SLIs only"),
        ({"service": "search"}, "service must be one of gateway, query, collections"),
        ({"routes": []}, "routes must be a non-empty list"),
        ({"routes": "/rag/search"}, "routes must be a non-empty list"),
        ({"routes": ["/rag/(search|query)"]}, "routes must be route templates"),
        ({"alert": "SearchBurn"}, "alert must be named Ragplane<Component><Symptom>"),
        ({"name": "Search_Availability"}, "name must be lower-case words joined by dashes"),
        ({"summary": ""}, "summary must be a non-empty string"),
        ({"period": "30d"}, "unknown key(s) period"),
    ],
)
def test_the_loader_refuses_a_bad_slo_naming_it(change: dict[str, Any], message: str) -> None:
    with pytest.raises(slos.SloError, match=r"slos\.yaml: slos\[0\] \(") as caught:
        slos.parse(document({**GOOD, **change}))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"threshold_s": None}, "a latency SLI needs threshold_s"),
        ({"threshold_s": 0.75}, "one of the histogram's bucket bounds (0.005, 0.01,"),
        ({"threshold_s": "fast"}, "got 'fast'"),
    ],
)
def test_a_latency_slo_needs_a_bucket_bound_as_threshold(change: dict[str, Any], message: str) -> None:
    with pytest.raises(slos.SloError) as caught:
        slos.parse(document({**LATENCY, **change}))
    assert message in str(caught.value)


def test_a_missing_key_is_named() -> None:
    entry = {k: v for k, v in GOOD.items() if k != "objective"}
    with pytest.raises(slos.SloError, match="missing objective"):
        slos.parse(document(entry))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slos: [", "not valid YAML"),
        ("[]", "expected a mapping with a non-empty list under `slos`"),
        ("slos: []", "expected a mapping with a non-empty list under `slos`"),
        ("slos: [7]", "each SLO is a mapping"),
        (document(GOOD, GOOD), "two SLOs share the name search-availability"),
        (document(GOOD, {**GOOD, "name": "other"}), "two SLOs share the alert RagplaneSearchAvailabilityBudgetBurn"),
    ],
)
def test_the_loader_refuses_a_bad_document(text: str, message: str) -> None:
    with pytest.raises(slos.SloError, match=message):
        slos.parse(text)


@pytest.mark.parametrize(
    ("objective", "budget"),
    [(99.9, "0.001"), (99.95, "0.0005"), (99, "0.01"), (99.5, "0.005"), (95, "0.05"), ("99.99", "0.0001")],
)
def test_budgets_are_exact_decimals(objective: object, budget: str) -> None:
    (slo,) = slos.parse(document({**GOOD, "objective": objective}))
    assert slo.budget == Decimal(budget)
    rules = slos.rules(slo)
    constants = {r.record: r.expr for r in rules if isinstance(r, Recording) and "vector" in r.expr}
    assert constants[slos.ERROR_BUDGET] == f"vector({budget})"
    page = next(r for r in rules if isinstance(r, Alert) and r.severity == "critical")
    assert f"(14.4 * {budget})" in page.expr and f"(6 * {budget})" in page.expr


def test_the_rule_file_has_no_float_noise() -> None:
    assert not any(noise in render() for noise in ("00000000", "99999999"))


def test_each_slo_records_its_error_ratio_over_every_window_and_alerts_in_two_severities() -> None:
    (slo,) = slos.parse(document(LATENCY))
    rules = slos.rules(slo)
    records = [r.record for r in rules if isinstance(r, Recording)]
    assert records == [
        *(f"ragplane_slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d")),
        *(f"ragplane_slo:sli_requests:rate{w}" for w in ("1h", "6h", "1d", "3d")),
        "ragplane_slo:objective:ratio",
        "ragplane_slo:error_budget:ratio",
    ]
    assert all(r.labels["slo"] == "search-latency" for r in rules if isinstance(r, Recording))
    alerts = [r for r in rules if isinstance(r, Alert)]
    assert [(a.name, a.severity) for a in alerts] == [
        ("RagplaneSearchLatencyBudgetBurn", "critical"),
        ("RagplaneSearchLatencyBudgetBurn", "warning"),
    ]
    page, ticket = (a.expr for a in alerts)
    for window in ("1h", "5m", "6h", "30m"):
        assert f'ratio_rate{window}{{slo="search-latency"}}' in page
    for window in ("1d", "2h", "3d", "6h"):
        assert f'ratio_rate{window}{{slo="search-latency"}}' in ticket
    assert 'le="0.5"' in slos.error_ratio(slo, "5m")


@pytest.mark.parametrize("spec", [GOOD, LATENCY], ids=["availability", "latency"])
def test_the_recorded_request_rate_is_the_error_ratios_denominator(spec: dict[str, Any]) -> None:
    (slo,) = slos.parse(document(spec))
    total = slos.requests(slo, "1h")
    assert total.startswith("sum by (service) (rate(") and "[1h]" in total
    assert slos.error_ratio(slo, "1h").endswith(total)


def test_every_burn_pair_needs_a_request_a_minute_over_its_long_window() -> None:
    """A single error among a handful of requests is no burn: no window pair fires below the floor."""
    (slo,) = slos.parse(document(GOOD))
    page, ticket = (r.expr for r in slos.rules(slo) if isinstance(r, Alert))
    for expr, tier in ((page, slos.TIERS[0]), (ticket, slos.TIERS[1])):
        pairs = expr.split("\nor\n")
        assert len(pairs) == len(tier.burns)
        for pair, burn in zip(pairs, tier.burns, strict=True):
            assert f'ragplane_slo:sli_requests:rate{burn.long}{{slo="search-availability"}} >= (1 / 60)' in pair
