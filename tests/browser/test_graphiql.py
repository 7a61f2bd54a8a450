"""GraphiQL in a real headless Chromium (Debian's, driven by Playwright): the page renders, runs a
query against the served registry, and loads nothing from any other host.

The network is cut off but for the registry (``tests.browser.conftest``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.offline import offline_page
from tests.seed import SEED_ASSET
from tests.served import served_registry

pytestmark = pytest.mark.real_servers


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_registry(tmp_path_factory.mktemp("graphiql"), 2) as (write, query):
        import httpx

        assert httpx.post(f"{write}/assets", json=SEED_ASSET).status_code == 201
        yield query


def test_graphiql_renders_and_runs_a_query_with_nothing_from_another_host(browser: Any, server: str) -> None:
    offline = offline_page(browser, server)
    page = offline.page
    page.goto(f"{server}/graphql", wait_until="networkidle")
    page.wait_for_selector(".graphiql-container", timeout=30_000)
    page.click(".graphiql-execute-button")
    page.wait_for_function(
        "() => document.querySelector('.graphiql-response')?.innerText.includes('asset-001')", timeout=30_000
    )
    offline.screenshot("graphiql")
    response = page.inner_text(".graphiql-response")
    assert '"assetId": "asset-001"' in response, response
    offline.assert_clean()
    page.close()
