"""The page works from the keyboard alone and on a phone-sized screen."""

from playwright.sync_api import Page, ViewportSize, expect

from loadtests.stack import Stack

PHONE = ViewportSize(width=375, height=667)


def test_every_view_is_reached_and_used_from_the_keyboard(page: Page, corpus: str) -> None:
    page.goto(f"/?collection={corpus}#/search")
    expect(page.locator("#search-input")).to_be_focused()
    page.keyboard.type("circuit breaker")
    page.keyboard.press("Enter")
    expect(page.locator("#results li").first).to_contain_text("Circuit breakers")
    page.locator("#collection-picker").focus()
    page.keyboard.press("Tab")  # the first view link
    expect(page.get_by_role("link", name="Search")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#ask-input")).to_be_focused()
    page.keyboard.type("How often are collections backed up?")
    page.keyboard.press("Enter")
    citation = page.locator("#answer a.citation").first
    expect(citation).to_be_visible()
    citation.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#source-1")).to_be_focused()


def test_a_phone_sized_screen_shows_every_view_without_sideways_scrolling(page: Page, stack: Stack) -> None:
    page.set_viewport_size(PHONE)
    for view in ("search", "ask", "collections", "health", "activity", "token"):
        page.goto(f"/#/{view}")
        expect(page.get_by_role("link", name=view.capitalize())).to_have_attribute("aria-current", "page")
        expect(page.locator("#view > div")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{view} is {width} px wide on a {PHONE['width']} px screen"
