"""Browser tests: Debian's Chromium, driven by Playwright, against the web page of a real
`ragplane up` started on free ports (`loadtests/stack.py`) holding a small corpus of its own.

Chromium is the system's (`/usr/bin/chromium`), launched with the flags a container needs;
Playwright never downloads a browser. With `--html`, each test's report carries a screenshot
of the page as the test left it; `--tracing retain-on-failure` keeps a trace of failed ones.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_html

from e2e.stacks import COLLECTION, api_of, ready_stacks, replica_pair
from loadtests.stack import LOAD_PLAN, LOAD_PLAN_PER_MINUTE, Stack
from tests.upstreams import refusing

CHROMIUM = "/usr/bin/chromium"
TINY_PLAN_PER_MINUTE = 3
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--views-to",
        default="reports/e2e/views",
        help="where the accessibility tests save a screenshot of each view (make screenshots: docs/images)",
    )


@pytest.fixture(scope="session")
def views_to(request: pytest.FixtureRequest) -> Path:
    folder = Path(request.config.getoption("--views-to"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


# The page's own calls are anonymous unless a test pastes a token: the free plan must not limit
# a whole suite's worth of them from one address. `tiny` is for the test that meets a 429.
PLANS = f"free:100000,tiny:{TINY_PLAN_PER_MINUTE},{LOAD_PLAN}:{LOAD_PLAN_PER_MINUTE}"


@pytest.fixture(scope="session")
def stacks() -> Iterator[dict[str, Stack]]:
    """Every stack the suite drives, started side by side: `main`, and a `front` whose LLM refuses
    connections and whose gateway also sends query requests to a `replica`; each holds the corpus."""
    with refusing() as dead, ready_stacks({"RATE_LIMIT_PLANS": PLANS}, *replica_pair(dead), filled=True) as started:
        yield dict(zip(("main", "front", "replica"), started, strict=True))


@pytest.fixture(scope="session")
def stack(stacks: dict[str, Stack]) -> Stack:
    return stacks["main"]


@pytest.fixture(scope="session")
def replicated(stacks: dict[str, Stack]) -> tuple[Stack, Stack]:
    return stacks["front"], stacks["replica"]


@pytest.fixture(scope="session")
def base_url(stack: Stack) -> str:
    """Where `page.goto("/")` goes: the gateway, which serves the web page."""
    return stack.urls["gateway"]


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with api_of(stack) as client:
        yield client


@pytest.fixture(scope="session")
def corpus(stack: Stack) -> str:
    """The collection holding e2e/corpus/."""
    return COLLECTION


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """The page as the test left it, as a screenshot in the HTML report."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and page is not None and not page.is_closed():
        png = base64.b64encode(page.screenshot()).decode()
        report.extras = [*getattr(report, "extras", []), pytest_html.extras.png(png, name="the page at the end")]
