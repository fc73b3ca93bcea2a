"""The one aggregation shape of the alert and SLO rules: always `by (service, ...)`.

Selectors and the other shapes come from `ragplane.telemetry.promql` (shared with the
dashboards). Rules aggregate only through `by()`, because the scrape puts `service` on
every series and each alert must carry it to routing and inhibition.
"""

from __future__ import annotations

from collections.abc import Sequence

from ragplane.telemetry.promql import aggregate


def by(labels: Sequence[str], inner: str, op: str = "sum") -> str:
    """`op by (labels) (inner)`, refusing an aggregation that drops `service`."""
    if "service" not in labels:
        raise ValueError(f"aggregations keep `service`; got by ({', '.join(labels)})")
    return aggregate(labels, inner, op)
