"""The bare Starlette app bench_capacity measures as its yardstick serves its one route."""

import httpx

from loadtests import bare
from loadtests.bench_capacity import bare_app


def test_the_bare_app_answers_a_search_sized_body_and_stops() -> None:
    with bare_app() as url:
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        assert response.json() == bare.BODY
        assert len(response.content) > 3_000  # about a cached search's answer
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the bare app still answers after the benchmark is done with it")
