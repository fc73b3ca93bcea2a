"""A Q&A answer when the LLM cannot answer: quoted from the passages instead, and marked so."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from e2e.stacks import api_of, fill, ready_stack
from loadtests.stack import Stack
from tests.upstreams import refusing


@pytest.fixture(scope="module")
def llm_down() -> Iterator[Stack]:
    """A stack whose answerer is an Ollama that refuses connections; embeddings stay local."""
    with refusing() as dead, ready_stack(ANSWERER="ollama", EMBEDDER="local", OLLAMA_URL=dead) as running:
        with api_of(running) as api:
            fill(api)
        yield running


def test_an_answer_from_the_fallback_is_marked_degraded_with_the_reason(page: Page, llm_down: Stack) -> None:
    page.goto(f"{llm_down.urls['gateway']}/?collection=e2e#/ask")
    page.locator("#ask-input").fill("How often are collections backed up?")
    page.get_by_role("button", name="Ask", exact=True).click()
    answer = page.locator("#answer")
    expect(answer).to_contain_text("every night at two o'clock")
    expect(page.locator("#degraded")).to_contain_text("Degraded: quoted from the passages instead.")
    expect(page.locator("#degraded")).to_contain_text("llm unavailable")


def test_a_normal_answer_carries_no_mark(page: Page, corpus: str) -> None:
    page.goto(f"/?collection={corpus}#/ask")
    page.locator("#ask-input").fill("How often are collections backed up?")
    page.get_by_role("button", name="Ask", exact=True).click()
    expect(page.locator("#answer")).to_contain_text("every night at two o'clock")
    expect(page.locator("#degraded")).to_have_count(0)
