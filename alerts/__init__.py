"""ragplane's Prometheus rules as code: alerts in Python, SLOs as data, one generated rule file.

`rules.py` defines the alerts, `slos.yaml` the service level objectives (turned into
recording rules and burn-rate alerts by `slos.py`), `render.py` writes them as
`deploy/prometheus/rules/ragplane.rules.yml` (`python -m alerts`). Every selector is built
from `ragplane.telemetry.catalog`, so a rule cannot watch a metric nobody exports.
"""
