"""bench_capacity reads wrk's report: rate, percentiles in any unit, and every kind of error."""

import pytest

from loadtests.bench_capacity import parse, table

REPORT = """Running 10s test @ http://127.0.0.1:8000/api/v1/rag/search?collection=docs&query=x
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.52ms    2.31ms   1.20s    90.00%
    Req/Sec   763.20     50.12     0.90k    70.00%
  Latency Distribution
     50%  850.00us
     75%   11.20ms
     90%   12.90ms
     99%    1.20s
  15210 requests in 10.01s, 20.12MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:   1519.50
Transfer/sec:      2.01MB
"""


def test_a_report_becomes_figures_in_milliseconds() -> None:
    result = parse("cached search, gateway", REPORT)
    assert (result.rps, result.requests, result.errors) == (1519.5, 15210, 6)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == (0.85, 12.9, 1200.0)
    assert "cached search, gateway" in table([result]) and "1519.5" in table([result])


def test_a_clean_run_has_no_errors() -> None:
    clean = REPORT.replace("  Socket errors: connect 0, read 1, write 0, timeout 2\n", "").replace(
        "  Non-2xx or 3xx responses: 3\n", ""
    )
    assert parse("x", clean).errors == 0


def test_a_report_without_a_rate_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no rate"):
        parse("x", "unable to connect to 127.0.0.1:1 Connection refused")
