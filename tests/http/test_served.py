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

from assets_registry.apps.container import build_container
from assets_registry.apps.settings import load_settings
from tests.seed import SEED_ASSET, SEED_GRAPHQL_BY_ID, SEED_GRAPHQL_BY_TYPE, SEED_SEARCH, SEED_UPDATE
from tests.served import served_registry
from tests.stacks import EMBEDDED, REAL_STACK


class Server:
    def __init__(self, write: str, query: str, token: str | None = None) -> None:
        self.write = write
        self.query = query
        self.auth = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={**self.auth, **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")


SERVED = [pytest.param((EMBEDDED, auth), id=f"{EMBEDDED}-{auth}") for auth in ("auth-off", "auth-tokens")] + [
    pytest.param((REAL_STACK, auth), id=f"{REAL_STACK}-{auth}", marks=pytest.mark.real_servers)
    for auth in ("auth-off", "auth-tokens")
]


@pytest.fixture(scope="module", params=SERVED)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two ports, two processes, on each stack; with ``auth=tokens`` every call sends an admin token."""
    stack, auth = request.param
    settings: dict[str, str] = {}
    urls: dict[str, Any] = {}
    if stack == REAL_STACK:
        real = request.getfixturevalue("real_stack")
        real.reset()
        settings, urls = {**real.environment, "ASSETS_JOB_THREADS": "0"}, real.urls
    data_dir = tmp_path_factory.mktemp("served")
    token = None
    if auth == "auth-tokens":
        settings["ASSETS_AUTH"] = "tokens"
        admin = build_container(load_settings(data_dir=data_dir, **urls)).services()
        token, _ = admin.tokens.create("served-suite", "admin")
        admin.close()
    with served_registry(data_dir, 2, 2, settings=settings) as (write, query):
        yield Server(write, query, token)


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
                                     headers={"Content-Type": "text/plain", **server.auth})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 415
    status, body = server.call("GET", f"{server.query}/query/by-id/{'x' * 6000}")
    assert (status, body["code"]) == (404, "asset_not_found")
