"""The Activity view: the last hour's searches and questions per minute and their latency, as
charts; the chart code is fetched only when this view is opened."""

import re
from urllib.parse import urlparse

import httpx
from playwright.sync_api import Page, Request, expect

CHART = "/static/views/chart.js"


def test_activity_charts_the_requests_just_made(page: Page, api: httpx.Client, corpus: str) -> None:
    fetched: list[str] = []

    def note(request: Request) -> None:
        fetched.append(urlparse(request.url).path)

    page.on("request", note)
    page.goto(f"/?collection={corpus}#/search")
    page.locator("#search-input").fill("activity is counted")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Done in")
    assert CHART not in fetched

    page.get_by_role("link", name="Activity").click()
    charts = page.locator("#activity-charts")
    expect(charts).to_contain_text("in the last 60 minutes")
    expect(charts).to_contain_text("from the answering query replica's own counts")
    expect(charts.locator("svg.chart")).to_have_count(2)
    expect(charts.locator("svg.chart").first.locator("rect.series-searches").first).to_be_attached()
    expect(charts.locator("polyline.series-average")).to_have_count(1)
    assert CHART in fetched
    searches = re.search(r"(\d+) search(?:es)?, ", charts.inner_text())
    assert searches and int(searches.group(1)) >= 1, charts.inner_text()
