"""What a document says is shown as text: markup in it never runs in the reader's browser."""

from playwright.sync_api import Dialog, Page, expect


def test_markup_in_a_document_is_shown_as_text_and_never_runs(page: Page, corpus: str) -> None:
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    page.goto(f"/?collection={corpus}")
    page.locator("#search-input").fill("hostile sample markup")
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.locator("#results li").first
    expect(first).to_contain_text("<img src=x onerror=")
    expect(page.locator("#results img, #results script")).to_have_count(0)
    page.get_by_role("link", name="Ask").click()
    page.locator("#ask-input").fill("What does the hostile sample write?")
    page.get_by_role("button", name="Ask", exact=True).click()
    expect(page.locator("#answer")).to_be_visible()
    expect(page.locator("#answer img, #answer script")).to_have_count(0)
    assert page.evaluate("window.__xss") is None
    assert dialogs == []


def test_the_page_runs_no_inline_script_even_one_inserted_into_it(page: Page, stack: object) -> None:
    page.goto("/")
    blocked = page.evaluate(
        """() => new Promise((resolve) => {
            document.addEventListener("securitypolicyviolation", (e) => resolve(e.effectiveDirective), { once: true });
            const script = document.createElement("script");
            script.textContent = "window.__inline = 1";
            document.body.append(script);
            if (window.__inline) resolve("it ran");
        })"""
    )
    assert blocked == "script-src-elem"
