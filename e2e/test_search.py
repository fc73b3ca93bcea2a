"""Searching from the web page: results with their title, section and source, the query's
words marked; the collection picked in the header; a search's address runs it again."""

import httpx
from playwright.sync_api import Page, expect

from loadtests.stack import Stack


def test_a_search_lists_the_matching_passage_first_with_its_source(page: Page, corpus: str) -> None:
    page.goto(f"/?collection={corpus}")
    expect(page.locator("#collection-picker")).to_have_value(corpus)
    page.locator("#search-input").fill("when does the circuit breaker open")
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.locator("#results li").first
    expect(first.locator("h3")).to_have_text("Circuit breakers — Circuit breakers > When a breaker opens")
    expect(first).to_contain_text("five consecutive failures")
    expect(first.locator(".meta")).to_contain_text("breakers.md")
    expect(page.locator("#status")).to_contain_text("Done in")
    marked = {m.lower() for m in first.locator("mark").all_inner_texts()}
    assert {"breaker", "opens"} <= marked, marked
    assert not {"when", "does", "the"} & marked, marked  # too common to mark


def test_a_searchs_address_runs_it_again(page: Page, corpus: str) -> None:
    page.goto(f"/?collection={corpus}#/search")
    page.locator("#search-input").fill("backed up")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Done in")
    assert page.url.endswith("#/search?q=backed+up")
    page.goto("about:blank")
    page.goto(f"/?collection={corpus}#/search?q=backed+up")
    expect(page.locator("#search-input")).to_have_value("backed up")
    expect(page.locator("#results li").first).to_contain_text("Backups")


def test_the_collection_is_picked_in_the_header(page: Page, stack: Stack, corpus: str) -> None:
    page.goto("/#/search")
    expect(page.locator("#collection-picker")).to_have_value("docs")
    expect(page.locator(f"#collection-picker option[value='{corpus}']")).to_have_count(1)
    page.locator("#collection-picker").select_option(corpus)
    assert f"collection={corpus}" in page.url
    page.locator("#search-input").fill("circuit breaker")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results li").first.locator(".meta")).to_contain_text("breakers.md")


def test_a_search_of_a_missing_collection_says_so(page: Page, stack: Stack) -> None:
    page.goto("/?collection=no-such-collection")
    page.locator("#search-input").fill("anything")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Error:")
    expect(page.locator("#status")).to_contain_text("no-such-collection")
    expect(page.locator("#results li")).to_have_count(0)


def test_a_search_that_finds_nothing_says_what_to_do(page: Page, api: httpx.Client) -> None:
    api.post("/api/v1/rag/collections", json={"name": "e2e-empty"}).raise_for_status()
    page.goto("/?collection=e2e-empty#/search")
    page.locator("#search-input").fill("anything at all")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results li")).to_have_text(
        "Nothing matches. Try other words, or pick another collection above."
    )
