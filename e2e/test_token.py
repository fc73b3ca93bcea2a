"""A token pasted into the page: kept for this tab only, its plan and the gateway's rate-limit
headers shown, and a request over the plan's limit answered with when to try again."""

from playwright.sync_api import Page, expect

from e2e.conftest import TINY_PLAN_PER_MINUTE
from e2e.stacks import token_of
from loadtests.stack import Stack


def test_a_token_shows_its_plan_and_a_429_says_when_to_retry(page: Page, stack: Stack, corpus: str) -> None:
    token = token_of(stack, plan="tiny", sub="e2e-tiny-plan")
    page.goto(f"/?collection={corpus}#/token")
    expect(page.locator("#token-facts")).to_contain_text("none: requests are anonymous")
    page.locator("#token-input").fill(token)
    page.get_by_role("button", name="Use", exact=True).click()
    expect(page.locator("#status")).to_have_text("The gateway accepts this token.")
    facts = page.locator("#token-facts")
    expect(facts).to_contain_text("tiny")
    expect(facts).to_contain_text("e2e-tiny-plan")
    expect(facts).to_contain_text(f"RateLimit-Limit{TINY_PLAN_PER_MINUTE}")
    assert token not in page.url
    assert page.evaluate("sessionStorage.getItem('ragplane.token')") == token

    page.get_by_role("link", name="Search").click()
    for _ in range(2 * TINY_PLAN_PER_MINUTE + 2):  # a new minute may begin meanwhile, with a new allowance
        page.locator("#search-input").fill("circuit breaker")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page.locator("#status")).not_to_have_text("Working…")
        if "Too many requests" in page.locator("#status").inner_text():
            break
    expect(page.locator("#status")).to_contain_text("Too many requests: The tiny plan allows 3 requests per minute")
    expect(page.locator("#status")).to_contain_text("retry in")


def test_forgetting_the_token_makes_the_page_anonymous_again(page: Page, stack: Stack) -> None:
    page.goto("/#/token")
    page.locator("#token-input").fill(token_of(stack, plan="free", sub="e2e-forget"))
    page.get_by_role("button", name="Use", exact=True).click()
    expect(page.locator("#token-facts")).to_contain_text("e2e-forget")
    page.get_by_role("button", name="Forget").click()
    expect(page.locator("#token-facts")).to_contain_text("none: requests are anonymous")
    assert page.evaluate("sessionStorage.getItem('ragplane.token')") is None
