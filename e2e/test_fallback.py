"""What a user sees when a part of the stack fails: an answer from the fallback when the LLM
cannot answer, marked so; and no error at all when one of two query replicas dies."""

from playwright.sync_api import Page, expect

from loadtests.stack import Stack


def test_an_answer_from_the_fallback_is_marked_degraded_with_the_reason(
    page: Page, replicated: tuple[Stack, Stack]
) -> None:
    front, _ = replicated
    page.goto(f"{front.urls['gateway']}/?collection=e2e#/ask")
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


def search(page: Page, query: str) -> None:
    page.locator("#search-input").fill(query)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Done in")
    expect(page.locator("#results li").first).to_contain_text("Circuit breakers")


def test_a_query_replica_killed_mid_session_costs_the_user_nothing(page: Page, replicated: tuple[Stack, Stack]) -> None:
    front, replica = replicated
    page.goto(f"{front.urls['gateway']}/?collection=e2e#/search")
    for _ in range(2):  # round-robin: one search answered by each replica
        search(page, "when does the circuit breaker open")
    assert replica.process is not None
    replica.process.kill()
    replica.process.wait()
    # About every other search first tries the dead replica, and the gateway tries the next; after
    # three such failures the dead replica's breaker opens and it is not tried any more.
    for n in range(8):
        search(page, f"circuit breaker opens {n}")
    page.get_by_role("link", name="Health").click()
    expect(page.locator("#health-query")).to_contain_text("replica 2 down")
    expect(page.locator("#health-query")).to_contain_text("replica 1 up")
