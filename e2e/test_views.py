"""Views are ES modules loaded when they are needed: the first visit fetches only its own view;
pointing at a link fetches that view's module before the click; each view has its own address."""

from urllib.parse import urlparse

from playwright.sync_api import Page, Request, expect

SEARCH, ASK = "/static/views/search.js", "/static/views/ask.js"


def test_a_views_module_is_fetched_only_when_it_is_needed(page: Page, stack: object) -> None:
    fetched: list[str] = []

    def note(request: Request) -> None:
        fetched.append(urlparse(request.url).path)

    page.on("request", note)
    page.goto("/")
    expect(page.locator("#search-input")).to_be_focused()
    assert SEARCH in fetched and ASK not in fetched
    with page.expect_request(f"**{ASK}"):
        page.get_by_role("link", name="Ask").hover()
    page.get_by_role("link", name="Ask").click()
    expect(page.locator("#ask-input")).to_be_visible()
    expect(page.get_by_role("link", name="Ask")).to_have_attribute("aria-current", "page")
    assert page.url.endswith("#/ask")
    assert fetched.count(ASK) == 1


def test_each_view_has_its_own_address_and_the_back_button_returns(page: Page, stack: object) -> None:
    page.goto("/#/ask")
    expect(page.locator("#ask-input")).to_be_visible()
    page.get_by_role("link", name="Search").click()
    expect(page.locator("#search-input")).to_be_visible()
    page.go_back()
    expect(page.locator("#ask-input")).to_be_visible()
    page.goto("/#/no-such-view")
    expect(page.locator("#search-input")).to_be_visible()
