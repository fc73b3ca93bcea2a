"""Searching from the web page: results with their title, section and source."""

from playwright.sync_api import Page, expect


def test_a_search_lists_the_matching_passage_first_with_its_source(page: Page, corpus: str) -> None:
    page.goto(f"/?collection={corpus}")
    expect(page.locator("#collection-name")).to_have_text(corpus)
    page.locator("#search-input").fill("when does the circuit breaker open")
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.locator("#results li").first
    expect(first.locator("h3")).to_have_text("Circuit breakers — Circuit breakers > When a breaker opens")
    expect(first).to_contain_text("five consecutive failures")
    expect(first.locator(".meta")).to_contain_text("breakers.md")
    expect(page.locator("#status")).to_contain_text("Done in")


def test_a_search_of_a_missing_collection_says_so(page: Page, stack: object) -> None:
    page.goto("/?collection=no-such-collection")
    page.locator("#search-input").fill("anything")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Error:")
    expect(page.locator("#status")).to_contain_text("no-such-collection")
    expect(page.locator("#results li")).to_have_count(0)
