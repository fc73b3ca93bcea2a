"""Asking from the web page: an answer quoting the passages, with their numbers as citations."""

from playwright.sync_api import Page, expect


def test_a_question_is_answered_with_citations_and_its_sources(page: Page, corpus: str) -> None:
    page.goto(f"/?collection={corpus}#/ask")
    page.locator("#ask-input").fill("How often are collections backed up?")
    page.get_by_role("button", name="Ask", exact=True).click()
    answer = page.locator("#answer")
    expect(answer).to_be_visible()
    expect(answer).to_contain_text("every night at two o'clock")
    expect(answer).to_contain_text("[1]")
    expect(page.locator("#results li").first).to_contain_text("Backups")
