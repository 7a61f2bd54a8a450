"""The seed's curl examples against a real ``assets-registry serve`` over real sockets.

The server runs as the README starts it (gunicorn, two worker processes, two ports); writes
go to the seed's write port and reads to its query port, so they cross processes.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.seed import SEED_ASSET, SEED_GRAPHQL_BY_ID, SEED_GRAPHQL_BY_TYPE, SEED_SEARCH, SEED_UPDATE
from tests.served import served_registry
from tests.stacks import STACKS, stack_settings


class Server:
    def __init__(self, write: str, query: str) -> None:
        self.write = write
        self.query = query

    def call(self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture(scope="module", params=STACKS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served_registry(tmp_path_factory.mktemp("served"), 2, 2, settings=stack_settings(request)) as (write, query):
        yield Server(write, query)


JSON = {"Content-Type": "application/json"}


def test_the_seed_examples_in_order(server: Server) -> None:
    status, body = server.call("POST", f"{server.write}/assets", SEED_ASSET, JSON)
    assert (status, body["asset_id"]) == (201, "asset-001")

    status, body = server.call("PUT", f"{server.write}/assets/asset-001", SEED_UPDATE, JSON)
    assert (status, body["asset_brief_description"]) == (200, "Updated description")

    status, body = server.call("GET", f"{server.query}/query/by-id/asset-001")
    assert status == 200
    assert body["asset_brief_description"] == "Updated description"
    assert body["profiles"][0]["asset_sub_type"] == "llm"

    for path, expected in [
        ("/query/by-type/model", ["asset-001"]),
        ("/query/by-sub-type/llm", ["asset-001"]),
        ("/query/by-tag/generative", []),
        ("/query/by-api-route/api/v1/generate", []),
    ]:
        status, body = server.call("GET", f"{server.query}{path}")
        assert (status, [d["asset_id"] for d in body]) == (200, expected), path

    status, body = server.call("POST", f"{server.query}/query/search", SEED_SEARCH, JSON)
    assert (status, [d["asset_id"] for d in body]) == (200, ["asset-001"])

    status, body = server.call("POST", f"{server.query}/graphql", {"query": SEED_GRAPHQL_BY_ID}, JSON)
    assert status == 200
    assert body == {"data": {"getAssetById": {
        "assetId": "asset-001", "assetUri": "models://example.com/asset-001",
        "assetVersion": "v1", "assetBriefDescription": "Updated description"}}}  # fmt: skip

    status, body = server.call("POST", f"{server.query}/graphql", {"query": SEED_GRAPHQL_BY_TYPE}, JSON)
    assert status == 200
    [asset] = body["data"]["getAssetsByType"]
    assert asset["profiles"][0]["asset_type"] == "model"

    search = "query($f: GenericScalar) { searchAssets(filters: $f) { assetId assetUri assetVersion } }"
    variables = {"f": {"profiles.asset_sub_type": "llm"}}
    status, body = server.call("POST", f"{server.query}/graphql", {"query": search, "variables": variables}, JSON)
    assert (status, body["data"]["searchAssets"][0]["assetId"]) == (200, "asset-001")

    status, body = server.call("DELETE", f"{server.write}/assets/asset-001")
    assert (status, body) == (200, {"success": True, "asset_id": "asset-001"})
    status, body = server.call("GET", f"{server.query}/query/by-id/asset-001")
    assert (status, body["code"]) == (404, "asset_not_found")


def test_client_mistakes_are_never_500_over_the_wire(server: Server) -> None:
    status, body = server.call("POST", f"{server.write}/assets", None, {"Content-Type": "application/json"})
    assert (status, body["code"]) == (400, "malformed_json")
    request = urllib.request.Request(f"{server.write}/assets", data=b"{}", method="POST",
                                     headers={"Content-Type": "text/plain"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 415
    status, body = server.call("GET", f"{server.query}/query/by-id/{'x' * 6000}")
    assert (status, body["code"]) == (404, "asset_not_found")
