"""`ragplane trace TRACE_ID`: one trace's recent spans from every service, printed as one tree.

Each service keeps its last few thousand finished spans in memory (`kit.spans`) and answers
`GET /internal/traces/{trace_id}` to callers holding the service token. This asks the gateway,
query and collections services these settings name, joins their spans by parent id and prints
the tree, each span with its service and duration:

    GET /api/v1/rag/search                   gateway  12.3 ms
    └─ GET 127.0.0.1:8001/api/v1/rag/search  gateway  10.9 ms
       └─ GET /api/v1/rag/search             query     9.8 ms
          ├─ embed                           query     4.1 ms
          └─ vector_search                   query     3.0 ms

The tree goes to stdout. A service that cannot be asked is named on stderr (the others' spans
are still shown); a trace no service holds (older than the rings, not sampled, or a wrong id)
exits 1, a malformed id 2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from ragplane.errors import ValidationFailed
from ragplane.kit.service_auth import HEADER
from ragplane.kit.spans import CAPACITY, parse_trace_id
from ragplane.ops.ingest_client import problem_text
from ragplane.settings import Settings

PATH = "/internal/traces/{trace_id}"


@dataclass(frozen=True)
class Span:
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    service: str
    start_ns: int
    duration_ms: float
    error: bool
    attributes: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Span:
        return cls(
            span_id=str(data["span_id"]),
            parent_id=data.get("parent_id"),
            name=str(data["name"]),
            kind=str(data.get("kind", "")),
            service=str(data.get("service", "")),
            start_ns=int(data["start_unix_nano"]),
            duration_ms=float(data["duration_ms"]),
            error=data.get("status") == "error",
            attributes=data.get("attributes") or {},
        )

    @property
    def label(self) -> str:
        """The span's name; a call to another service also says where it went."""
        path = self.attributes.get("url.path")
        if self.kind != "client" or not path:
            return self.name
        host, port = self.attributes.get("server.address", ""), self.attributes.get("server.port")
        return f"{self.name} {host}{f':{port}' if port else ''}{path}"

    @property
    def notes(self) -> str:
        status = self.attributes.get("http.response.status_code")
        return " ".join(n for n in (str(status) if status else "", "ERROR" if self.error else "") if n)


def duration(ms: float) -> str:
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def render(spans: Sequence[Span]) -> list[str]:
    """The spans as a tree, children under their parent in start order; a span whose parent is
    not among them (the caller's, or one already dropped) is a root."""
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        children.setdefault(span.parent_id if span.parent_id in ids else None, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: (s.start_ns, s.span_id))
    rows: list[tuple[str, Span]] = []

    def walk(span: Span, prefix: str, branch: str, below: str) -> None:
        rows.append((prefix + branch + span.label, span))
        kids = children.get(span.span_id, [])
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            walk(kid, prefix + below, "└─ " if last else "├─ ", "   " if last else "│  ")

    for root in children.get(None, []):
        walk(root, "", "", "")
    width = max(len(text) for text, _ in rows)
    services = max(len(span.service) for _, span in rows)
    times = max(len(duration(span.duration_ms)) for _, span in rows)
    return [
        f"{text:<{width}}  {span.service:<{services}}  {duration(span.duration_ms):>{times}}  {span.notes}".rstrip()
        for text, span in rows
    ]


def fetch(
    targets: Mapping[str, str], token: str, trace_id: str, *, timeout_s: float = 10
) -> tuple[list[Span], list[str]]:
    """Every target service's spans of `trace_id`, and a sentence for each service that could not say."""
    spans: list[Span] = []
    problems: list[str] = []
    with httpx.Client(headers={HEADER: token}, timeout=timeout_s) as client:
        for service, url in targets.items():
            try:
                response = client.get(url.rstrip("/") + PATH.format(trace_id=trace_id))
            except httpx.HTTPError as exc:
                problems.append(f"{service} ({url}) did not answer: {str(exc) or type(exc).__name__}")
                continue
            if response.status_code != 200:
                problems.append(f"{service} ({url}) answered {problem_text(response)}")
                continue
            spans.extend(Span.from_json(span) for span in response.json()["spans"])
    return spans, problems


def targets(settings: Settings) -> dict[str, str]:
    """Where the services these settings name listen: the gateway, then the upstreams it would call."""
    return {
        "gateway": settings.gateway_url,
        "query": settings.upstream_url("query"),
        "collections": settings.upstream_url("collections"),
    }


def command(
    settings: Settings, trace_id: str, *, say: Callable[[str], None], out: Callable[[str], None] = print
) -> int:
    try:
        wanted = format(parse_trace_id(trace_id), "032x")
    except ValidationFailed:
        say(
            f"ragplane: {trace_id!r} is not a trace id: one is 32 hexadecimal digits, as in a log line's or "
            "problem document's trace_id, an exemplar, or the middle part of a traceparent header"
        )
        return 2
    services = targets(settings)
    spans, problems = fetch(services, settings.service_token or "", wanted)
    for problem in problems:
        say(f"ragplane: {problem}")
    if not spans and len(problems) == len(services):
        say("ragplane: no service could be asked: is the stack running, and do these settings name it?")
        return 1
    if not spans:
        say(
            f"ragplane: no service holds a span of trace {wanted}. Each keeps only its last {CAPACITY} "
            "spans, and only those of sampled traces (OTEL_TRACES_SAMPLER): the trace is older, was not "
            "sampled, or the id is wrong. In the full stack, look it up in Jaeger (Grafana's traces datasource)."
        )
        return 1
    for line in render(spans):
        out(line)
    return 0
