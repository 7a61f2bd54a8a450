"""GraphiQL in a real headless Chromium (Debian's, driven by Playwright): the page renders, runs a
query against the served registry, and loads nothing from any other host.

Screenshots go to ``$ASSETS_TEST_ARTIFACTS`` (default ``test-artifacts/`` in the working folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.seed import SEED_ASSET
from tests.served import served_registry
from tests.servers import find_binary, unavailable

pytestmark = pytest.mark.real_servers


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = find_binary("ASSETS_TEST_CHROMIUM", "chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_registry(tmp_path_factory.mktemp("graphiql"), 2) as (write, query):
        import httpx

        assert httpx.post(f"{write}/assets", json=SEED_ASSET).status_code == 201
        yield query


def _artifacts() -> Path:
    folder = Path(os.environ.get("ASSETS_TEST_ARTIFACTS", "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_graphiql_renders_and_runs_a_query_with_nothing_from_another_host(browser: Any, server: str) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    failures: list[str] = []
    page.on("requestfailed", lambda request: failures.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server}/graphql", wait_until="networkidle")
    page.wait_for_selector(".graphiql-container", timeout=30_000)
    page.click(".graphiql-execute-button")
    page.wait_for_function(
        "() => document.querySelector('.graphiql-response')?.innerText.includes('asset-001')", timeout=30_000
    )
    page.screenshot(path=str(_artifacts() / "graphiql.png"))
    response = page.inner_text(".graphiql-response")
    assert '"assetId": "asset-001"' in response, response
    assert errors == [], errors
    assert failures == [], failures
    outside = [url for url in requested if not url.startswith(server) and not url.startswith("data:")]
    assert outside == [], f"the page loaded from other hosts: {outside}"
    assert any(url.endswith("/static/vendor/graphiql.min.js") for url in requested), requested
    page.close()
