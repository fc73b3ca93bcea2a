"""The Collections view: create one, upload a file into it and follow the job to its end, find
the file's text by searching the collection, then delete it after confirming."""

import uuid

from playwright.sync_api import Dialog, FilePayload, Page, expect

KILN = b"# Kiln\n\nThe studio kiln fires stoneware at 1280 degrees for nine hours before it cools down.\n"


def test_a_collection_is_created_filled_from_a_file_searched_and_deleted(page: Page, stack: object) -> None:
    name = f"notes-{uuid.uuid4().hex[:8]}"
    page.goto("/#/collections")
    page.locator("#create-name").fill(name)
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#status")).to_have_text(f"Collection {name} created.")
    row = page.locator(f"#collection-{name}")
    expect(row).to_be_visible()

    page.locator("#upload-collection").select_option(name)
    page.locator("#upload-files").set_input_files(FilePayload(name="kiln.md", mimeType="text/markdown", buffer=KILN))
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#status")).to_have_text("Ingestion completed: 1 ingested, 0 unchanged.", timeout=60_000)
    expect(row.locator("td").nth(1)).to_have_text("1")  # documents
    expect(page.locator("#jobs li").first).to_contain_text(f"{name}: completed")

    row.get_by_role("link", name=name).click()
    expect(page.locator("#collection-picker")).to_have_value(name)
    page.locator("#search-input").fill("how hot does the kiln fire stoneware")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results li").first).to_contain_text("1280 degrees")

    page.goto("/#/collections")
    asked: list[str] = []

    def confirm(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    page.get_by_role("button", name=f"Delete {name}").click()
    expect(page.locator("#status")).to_have_text(f"Collection {name} deleted.")
    expect(page.locator(f"#collection-{name}")).to_have_count(0)
    assert asked == [f"Delete the collection {name} and every document in it?"]


def test_deleting_is_not_done_without_confirmation(page: Page, stack: object) -> None:
    name = f"keep-{uuid.uuid4().hex[:8]}"
    page.goto("/#/collections")
    page.locator("#create-name").fill(name)
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator(f"#collection-{name}")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name=f"Delete {name}").click()
    page.reload()
    expect(page.locator(f"#collection-{name}")).to_be_visible()


def test_a_bad_name_is_refused_with_the_rule(page: Page, stack: object) -> None:
    page.goto("/#/collections")
    page.locator("#create-name").fill("Not A Name!")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Error:")
