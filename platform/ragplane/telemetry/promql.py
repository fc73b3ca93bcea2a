"""PromQL built from catalogue specs, and the check that an expression names only known metrics.

The dashboard and alert generators write their queries with `series()` (which refuses a
spec the catalogue lacks or a suffix its kind does not have) and the few shapes below
(`rate`, `aggregate`, `ratio`, bucket bounds), and their tests run `unknown_metrics()` over
every finished expression, so a hand-typed name slips through neither. Both use the same
route sets, so a dashboard panel and the alert it links to measure the same traffic.
`metric_names()` parses an expression with `promql-parser` (a Rust parser of Prometheus'
grammar) and reads the names off its selectors, so a label value, a function's string
argument or a keyword is never taken for a metric, and an expression that does not parse is
refused, named in the error, rather than half-read. The parser is a development dependency
(only the tests of the rules, dashboards and docs call these two functions), imported on
first use so that the services never load it.

Metrics other programs export (Prometheus' `up`, Qdrant's own `/metrics`) are listed in
`EXTERNAL`, with where they come from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

from ragplane.errors import PromQLSyntaxError
from ragplane.telemetry.catalog import BY_NAME, Kind, Metric

if TYPE_CHECKING:
    import promql_parser

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

# Prometheus scrapes and liveness/readiness probes are not traffic: a not-ready service's
# 503 on /health/ready is its readiness answer, not an error a user saw.
INFRA_ROUTES = "/health.*|/metrics"
# The query service's public routes: `/api/v1/...` and their deprecated legacy twins.
QUERY_ROUTES = "(/api/v1)?/rag/(search|query)"
# A search or Q&A request slower than this (seconds, a request-latency bucket bound) is slow.
SLOW_QUERY_SECONDS = 1.0

# name → who exports it. Dashboards may chart these; the truth check does not expect them
# from the embedded stack (Qdrant's exist only where a Qdrant server runs).
EXTERNAL: Mapping[str, str] = MappingProxyType(
    {
        "up": "Prometheus, per scrape target",
        "ALERTS": "Prometheus, per pending or firing alert",
        "app_info": "Qdrant /metrics",
        "collections_total": "Qdrant /metrics",
        "collections_vector_total": "Qdrant /metrics",
        "cluster_enabled": "Qdrant /metrics",
        "cluster_peers_total": "Qdrant /metrics",
        "cluster_pending_operations_total": "Qdrant /metrics",
        "rest_responses_fail_total": "Qdrant /metrics",
        "rest_responses_total": "Qdrant /metrics",
    }
)


def _matchers(matchers: Mapping[str, str]) -> str:
    """`{a="x",b=~"y"}`: a value starting with `~` or `!` is a regex or negative matcher."""
    parts = []
    for label, value in matchers.items():
        op = "="
        if value[:2] in ("!~", "=~"):
            op, value = value[:2], value[2:]
        elif value[:1] == "~":
            op, value = "=~", value[1:]
        elif value[:1] == "!":
            op, value = "!=", value[1:]
        parts.append(f'{label}{op}"{value}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def series(spec: Metric, suffix: str = "", **matchers: str) -> str:
    """A selector for a catalogue metric, e.g. `series(HTTP_REQUESTS, status="~5..")`.

    `suffix` is one of `_bucket`, `_sum`, `_count` for histograms and empty otherwise; label
    names must be the spec's (or `service`, `instance`, `job`, which scraping adds)."""
    if BY_NAME.get(spec.name) is not spec:
        raise ValueError(f"{spec.name} is not in the catalogue")
    if suffix and (spec.kind is not Kind.HISTOGRAM or suffix not in HISTOGRAM_SUFFIXES):
        raise ValueError(f"{spec.name} is a {spec.kind}: no {suffix} series")
    if spec.kind is Kind.HISTOGRAM and not suffix:
        raise ValueError(f"{spec.name} is a histogram: choose one of {', '.join(HISTOGRAM_SUFFIXES)}")
    allowed = {*spec.labels, "service", "instance", "job"} | ({"le"} if suffix == "_bucket" else set())
    stray = set(matchers) - allowed
    if stray:
        raise ValueError(f"{spec.name} has no label {', '.join(sorted(stray))}")
    return spec.name + suffix + _matchers(matchers)


def external(name: str, **matchers: str) -> str:
    """A selector for a metric another program exports (`EXTERNAL`: `up`, Qdrant's own)."""
    if name not in EXTERNAL:
        raise ValueError(f"{name} is neither in the catalogue nor in promql.EXTERNAL")
    return name + _matchers(matchers)


def le(spec: Metric, seconds: float) -> str:
    """The `le` label value of histogram `spec`'s bucket bound `seconds`, as Prometheus stores it.

    The Python client writes bounds as floats (`le="1.0"`), and Prometheus 3 normalises every
    `le` to that float form whatever the exposition said, so `le="1"` would match nothing."""
    if spec.buckets is None or seconds not in spec.buckets:
        raise ValueError(f"{seconds} s is not a bucket bound of {spec.name}: {spec.buckets}")
    return repr(float(seconds))


def rate(selector: str, window: str) -> str:
    return f"rate({selector}[{window}])"


def increase(selector: str, window: str) -> str:
    return f"increase({selector}[{window}])"


def aggregate(labels: Sequence[str], inner: str, op: str = "sum") -> str:
    """`op by (labels) (inner)`, or `op(inner)` without labels."""
    return f"{op} by ({', '.join(labels)}) ({inner})" if labels else f"{op}({inner})"


def ratio(part: str, whole: str) -> str:
    """`part / whole` of two aggregations alike; 0 rather than absent while `part` has no series.

    A counter such as 5xx responses has no series until its first event, and a bare division
    would then show "no data" (on a dashboard) or record nothing (in a rule) instead of 0."""
    return f"({part} or 0 * {whole}) / {whole}"


def _selected(selector: promql_parser.VectorSelector) -> set[str]:
    """The name a selector gives (`x{...}`, `{__name__="x"}` or `{"x"}`), in each `or` group too.

    A regex name matcher (`{__name__=~"a|b"}`) names no one metric, so nothing is checked there."""
    import promql_parser

    names = {selector.name} if selector.name else set()
    for group in [selector.matchers.matchers, *selector.matchers.or_matchers]:
        names |= {m.value for m in group if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names one PromQL expression selects, plain or in a range, subquery or function.

    Grafana's `$variables` must be replaced first (`dashboards.expr.substitute`): in a range
    they are not PromQL. Raises `PromQLSyntaxError` for anything the parser refuses."""
    import promql_parser  # a development dependency: the services never call this

    try:
        tree = promql_parser.parse(expr)
    except ValueError as error:
        raise PromQLSyntaxError(expr, str(error)) from None
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> None:
        # A range `x[5m]` is a MatrixSelector around a VectorSelector, which the walk visits too.
        if isinstance(node, promql_parser.VectorSelector):
            names.update(_selected(node))

    promql_parser.walk(tree, pre_visit=visit)
    return names


def is_catalogued(name: str) -> bool:
    if name in BY_NAME:
        return BY_NAME[name].kind is not Kind.HISTOGRAM
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and base in BY_NAME and BY_NAME[base].kind is Kind.HISTOGRAM:
            return True
    return False


def unknown_metrics(expr: str, recorded: Iterable[str] = ()) -> set[str]:
    """Names in `expr` that are neither catalogue metrics, `EXTERNAL` ones, nor in `recorded`
    (the recording rules the generator defines); `PromQLSyntaxError` if `expr` does not parse."""
    known = set(recorded)
    return {n for n in metric_names(expr) if n not in known and n not in EXTERNAL and not is_catalogued(n)}
