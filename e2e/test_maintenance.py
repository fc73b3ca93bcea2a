"""The maintenance banner: shown while the gateway is in maintenance, gone when it is over."""

import httpx
from playwright.sync_api import Page, expect

from loadtests.stack import Stack
from ragplane.kit.service_auth import HEADER

MESSAGE = "Upgrading the vector store until 14:00 UTC"


def test_the_banner_shows_the_operators_message_while_maintenance_is_on(page: Page, stack: Stack) -> None:
    switch = f"{stack.urls['gateway']}/internal/maintenance"
    token = {HEADER: stack.service_token}
    page.goto("/")
    expect(page.locator("#maintenance")).to_be_hidden()
    httpx.put(switch, headers=token, json={"message": MESSAGE}).raise_for_status()
    try:
        page.reload()
        expect(page.locator("#maintenance")).to_have_text(f"Maintenance: {MESSAGE}")
        page.locator("#search-input").fill("anything")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page.locator("#status")).to_contain_text(MESSAGE)
    finally:
        httpx.delete(switch, headers=token).raise_for_status()
    page.reload()
    expect(page.locator("#maintenance")).to_be_hidden()
