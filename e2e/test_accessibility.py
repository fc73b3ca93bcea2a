"""axe-core on every view, each showing what a user would see there (results, an answer, the
collections, health, charts, a token's facts): no violations of WCAG 2.x A/AA rules or axe's
best practices. Each view's results are written to reports/e2e/axe/VIEW.json, and a screenshot
of it to console-VIEW.png in `--views-to` (the docs' pictures come from `make screenshots`)."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, ViewportSize, expect

REPORTS = Path("reports/e2e/axe")
SCREEN = ViewportSize(width=1000, height=760)
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}


def searched(page: Page) -> None:
    page.locator("#search-input").fill("circuit breaker")
    page.locator("#search-input").press("Enter")
    expect(page.locator("#results li").first).to_be_visible()


def asked(page: Page) -> None:
    page.locator("#ask-input").fill("How often are collections backed up?")
    page.locator("#ask-input").press("Enter")
    expect(page.locator("#answer")).to_be_visible()


def shown(selector: str) -> Callable[[Page], None]:
    return lambda page: expect(page.locator(selector).first).to_be_visible()


VIEWS = {
    "search": searched,
    "ask": asked,
    "collections": shown("#collections"),
    "health": shown("#health-query"),
    "activity": shown("#activity-charts svg"),
    "token": shown("#token-facts"),
}


@pytest.mark.parametrize("view", VIEWS)
def test_the_view_has_no_accessibility_violations(page: Page, corpus: str, view: str, views_to: Path) -> None:
    page.set_viewport_size(SCREEN)
    page.goto(f"/?collection={corpus}#/{view}")
    VIEWS[view](page)
    page.screenshot(path=views_to / f"console-{view}.png", full_page=True)
    results = Axe().run(page, options=RULES)
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{view}.json").write_text(json.dumps(results.response, indent=2))
    assert results.violations_count == 0, results.generate_report()
