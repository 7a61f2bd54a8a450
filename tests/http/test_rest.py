"""Every REST route and error path, on the embedded default, with the seed's bodies."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from falcon import testing

from assets_registry.apps.container import Services
from assets_registry.apps.http import create_app
from assets_registry.testing import assert_problem
from assets_registry.testing.documents import asset_document
from tests.seed import SEED_ASSET, SEED_SEARCH, SEED_UPDATE

JSON = {"Content-Type": "application/json"}


def post_asset(client: testing.TestClient, document: dict[str, Any]) -> testing.Result:
    return client.simulate_post("/assets", json=document)


def ids(result: testing.Result) -> list[str]:
    return [d["asset_id"] for d in result.json]


@pytest.fixture
def filled(client: testing.TestClient) -> testing.TestClient:
    assert post_asset(client, SEED_ASSET).status_code == 201
    for document in (
        asset_document("asset-002", asset_type="model", sub_type="vision", tags=["generative"],
                       routes=["/api/v1/generate"]),
        asset_document("asset-003", asset_type="data", sub_type="llm", tags=["generative", "text"],
                       routes=["api/v2/embed"], version="v2"),
        asset_document("asset-004", asset_type="model", sub_type="llm", version="v1"),
    ):  # fmt: skip
        assert post_asset(client, document).status_code == 201
    return client


# -- POST /assets ---------------------------------------------------------------------------


def test_seed_create_answers_201_with_the_stored_document(client: testing.TestClient) -> None:
    result = client.simulate_post("/assets", body=json.dumps(SEED_ASSET), headers=JSON)
    assert result.status_code == 201
    assert result.json["asset_id"] == "asset-001"
    assert result.json["profiles"][0]["asset_type"] == "model"
    assert result.json["asset_brief_description"] is None
    assert result.headers["location"] == "/query/by-id/asset-001"
    assert re.fullmatch(r'"1\.[0-9a-f]{16}"', result.headers["etag"]), result.headers["etag"]


def test_create_of_an_existing_id_is_400_and_keeps_the_original(client: testing.TestClient) -> None:
    post_asset(client, SEED_ASSET)
    body = assert_problem(post_asset(client, {**SEED_ASSET, "asset_version": "v9"}), 400, "asset_exists")
    assert "asset-001" in body["detail"]
    assert client.simulate_get("/query/by-id/asset-001").json["asset_version"] == "v1"


def test_create_of_an_invalid_asset_names_each_path(client: testing.TestClient) -> None:
    bad = {**SEED_ASSET, "asset_version": 1, "profiles": [{**SEED_ASSET["profiles"][0], "asset_tag": ["x"]}]}
    body = assert_problem(post_asset(client, bad), 400, "invalid_asset")
    assert {e["path"] for e in body["errors"]} == {"asset_version", "profiles[0].asset_tag"}
    assert "expected str, got int" in body["detail"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"asset_id": ', "not valid JSON"),
        (b'{"asset_id": NaN}', "not valid JSON"),
        (b"", "empty"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"asset_id": "\xff"}', "UTF-8"),
        (b"[" * 100 + b"]" * 100, "deeper"),
    ],
)
def test_malformed_json_is_400(client: testing.TestClient, body: bytes, message: str) -> None:
    result = client.simulate_post("/assets", body=body, headers=JSON)
    assert message in assert_problem(result, 400, "malformed_json")["detail"]


def test_a_json_array_is_not_an_asset(client: testing.TestClient) -> None:
    assert_problem(client.simulate_post("/assets", body=b"[]", headers=JSON), 400, "invalid_asset")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_415(client: testing.TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    result = client.simulate_post("/assets", body=json.dumps(SEED_ASSET), headers=headers)
    assert_problem(result, 415, "unsupported_media_type")


def test_a_json_suffix_media_type_is_json(client: testing.TestClient) -> None:
    headers = {"Content-Type": "application/merge-patch+json; charset=utf-8"}
    assert client.simulate_post("/assets", body=json.dumps(SEED_ASSET), headers=headers).status_code == 201


def test_a_body_over_the_limit_is_413(client: testing.TestClient) -> None:
    big = {**SEED_ASSET, "asset_brief_description": "x" * 70_000}
    assert_problem(post_asset(client, big), 413, "body_too_large")


def test_a_body_of_unknown_length_over_the_limit_is_413(services: Services) -> None:
    """A chunked upload has no Content-Length: the limit is enforced while reading."""
    big = json.dumps({**SEED_ASSET, "asset_brief_description": "x" * 70_000}).encode()
    environ = testing.create_environ("/assets", method="POST", body=big, headers=JSON)
    del environ["CONTENT_LENGTH"]
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input_terminated"] = True  # as gunicorn sets it for chunked requests
    result = testing.StartResponseMock()
    body = b"".join(create_app(services)(environ, result))
    assert (result.status or "").startswith("413")
    assert json.loads(body)["code"] == "body_too_large"


# -- PUT /assets/{id} -----------------------------------------------------------------------


def test_seed_update_changes_only_the_given_field(filled: testing.TestClient) -> None:
    result = filled.simulate_put("/assets/asset-001", body=json.dumps(SEED_UPDATE), headers=JSON)
    assert result.status_code == 200
    assert result.json == {**filled.simulate_get("/query/by-id/asset-001").json}
    assert result.json["asset_brief_description"] == "Updated description"
    assert result.json["profiles"] == filled.simulate_get("/query/by-id/asset-001").json["profiles"]
    assert result.json["asset_uri"] == SEED_ASSET["asset_uri"]
    assert re.fullmatch(r'"2\.[0-9a-f]{16}"', result.headers["etag"]), result.headers["etag"]


def test_update_of_an_unknown_asset_is_404(client: testing.TestClient) -> None:
    assert_problem(client.simulate_put("/assets/nope", json=SEED_UPDATE), 404, "asset_not_found")


def test_update_to_an_invalid_asset_is_400_and_changes_nothing(filled: testing.TestClient) -> None:
    body = assert_problem(filled.simulate_put("/assets/asset-001", json={"asset_file_ids": "x"}), 400, "invalid_asset")
    assert body["errors"][0]["path"] == "asset_file_ids"
    assert filled.simulate_get("/query/by-id/asset-001").headers["etag"].startswith('"1.')


def test_update_cannot_rename_an_asset(filled: testing.TestClient) -> None:
    result = filled.simulate_put("/assets/asset-001", json={"asset_id": "asset-999"})
    assert assert_problem(result, 400, "invalid_asset")["errors"][0]["path"] == "asset_id"


def test_update_with_if_match(filled: testing.TestClient) -> None:
    first = filled.simulate_put("/assets/asset-001", json={"asset_version": "v2"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200
    stale = filled.simulate_put("/assets/asset-001", json={"asset_version": "v3"}, headers={"If-Match": '"1"'})
    assert_problem(stale, 412, "revision_mismatch")
    assert filled.simulate_get("/query/by-id/asset-001").json["asset_version"] == "v2"
    garbage = filled.simulate_put("/assets/asset-001", json={"asset_version": "v3"}, headers={"If-Match": "abc"})
    assert_problem(garbage, 400, "invalid_input")


def test_update_with_a_non_object_body_is_400(filled: testing.TestClient) -> None:
    assert_problem(filled.simulate_put("/assets/asset-001", json=[1]), 400, "invalid_asset")


# -- DELETE /assets/{id} --------------------------------------------------------------------


def test_seed_delete_then_404(filled: testing.TestClient) -> None:
    result = filled.simulate_delete("/assets/asset-001")
    assert result.status_code == 200
    assert result.json == {"success": True, "asset_id": "asset-001"}
    assert_problem(filled.simulate_get("/query/by-id/asset-001"), 404, "asset_not_found")
    assert_problem(filled.simulate_delete("/assets/asset-001"), 404, "asset_not_found")
    assert "asset-001" not in ids(filled.simulate_get("/query/by-type/model"))


def test_delete_with_a_stale_if_match_is_412(filled: testing.TestClient) -> None:
    filled.simulate_put("/assets/asset-001", json=SEED_UPDATE)
    assert_problem(filled.simulate_delete("/assets/asset-001", headers={"If-Match": '"1"'}), 412, "revision_mismatch")
    assert filled.simulate_delete("/assets/asset-001", headers={"If-Match": '"2"'}).status_code == 200


def test_an_etag_never_names_two_contents_of_one_id_across_delete_and_re_create(filled: testing.TestClient) -> None:
    first = filled.simulate_get("/query/by-id/asset-001").headers["etag"]
    assert filled.simulate_delete("/assets/asset-001").status_code == 200
    recreated = filled.simulate_post("/assets", json={**SEED_ASSET, "asset_version": "v9"})
    assert recreated.status_code == 201
    assert recreated.headers["etag"] != first and recreated.headers["etag"].startswith('"1.')
    stale = filled.simulate_put("/assets/asset-001", json={"asset_version": "v10"}, headers={"If-Match": first})
    assert_problem(stale, 412, "revision_mismatch")
    fresh = filled.simulate_put(
        "/assets/asset-001", json={"asset_version": "v10"}, headers={"If-Match": recreated.headers["etag"]}
    )
    assert fresh.status_code == 200
    assert_problem(
        filled.simulate_put("/assets/asset-001", json={}, headers={"If-Match": '"2.zz"'}), 400, "invalid_input"
    )


# -- GET /query/... -------------------------------------------------------------------------


def test_by_id(filled: testing.TestClient) -> None:
    result = filled.simulate_get("/query/by-id/asset-001")
    assert result.status_code == 200
    assert result.json["asset_id"] == "asset-001"
    again = filled.simulate_get("/query/by-id/asset-001", headers={"If-None-Match": result.headers["etag"]})
    assert again.status_code == 304
    assert_problem(filled.simulate_get("/query/by-id/asset-404"), 404, "asset_not_found")


def test_ids_with_reserved_characters_travel_percent_encoded(client: testing.TestClient) -> None:
    weird = "näme with spaces?&#"
    result = post_asset(client, asset_document(weird))
    assert result.status_code == 201
    assert result.headers["location"] == "/query/by-id/n%C3%A4me%20with%20spaces%3F%26%23"
    assert client.simulate_get(result.headers["location"]).json["asset_id"] == weird


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/query/by-type/model", ["asset-001", "asset-002", "asset-004"]),
        ("/query/by-sub-type/llm", ["asset-001", "asset-003", "asset-004"]),
        ("/query/by-tag/generative", ["asset-002", "asset-003"]),
        ("/query/by-api-route/api/v1/generate", ["asset-002"]),
        ("/query/by-api-route/api/v2/embed", ["asset-003"]),
        ("/query/by-type/nothing", []),
    ],
)
def test_lookups_answer_json_arrays(filled: testing.TestClient, path: str, expected: list[str]) -> None:
    result = filled.simulate_get(path)
    assert result.status_code == 200
    assert ids(result) == expected
    assert "x-next-cursor" not in result.headers


def test_seed_search(filled: testing.TestClient) -> None:
    result = filled.simulate_post("/query/search", body=json.dumps(SEED_SEARCH), headers=JSON)
    assert result.status_code == 200
    assert ids(result) == ["asset-001", "asset-002", "asset-004"]


@pytest.mark.parametrize(
    ("flt", "path"),
    [
        ({"$where": "sleep(1000)"}, "$where"),
        ({"asset_id": {"$function": {}}}, "asset_id.$function"),
        ({"asset_id": {"$expr": {}}}, "asset_id.$expr"),
        (
            {"profiles": {"$elemMatch": {"asset_type": {"$unknown": 1}}}},
            "profiles.$elemMatch.asset_type.$unknown",
        ),
        ({"a.$b": 1}, "a.$b"),
        ({"asset_id": {"$regex": "(a)\\1"}}, "asset_id.$regex"),
        ([], ""),
    ],
)
def test_unsafe_or_invalid_filters_are_400_naming_the_path(filled: testing.TestClient, flt: Any, path: str) -> None:
    body = assert_problem(filled.simulate_post("/query/search", json=flt), 400, "invalid_filter")
    assert body["errors"][0]["path"] == path


def test_pages_follow_the_cursor_header_and_stay_arrays(filled: testing.TestClient) -> None:
    seen: list[str] = []
    url = "/query/by-type/model?limit=2"
    first = filled.simulate_get("/query/by-type/model", params={"limit": "2"})
    assert ids(first) == ["asset-001", "asset-002"]
    cursor = first.headers["x-next-cursor"]
    assert first.headers["link"] == f"</query/by-type/model?limit=2&cursor={cursor}>; rel=next"
    second = filled.simulate_get("/query/by-type/model", params={"limit": "2", "cursor": cursor})
    assert ids(second) == ["asset-004"]
    assert "x-next-cursor" not in second.headers
    seen = ids(first) + ids(second)
    assert seen == ids(filled.simulate_get(url.split("?", maxsplit=1)[0]))
    search = filled.simulate_post("/query/search", json={}, params={"limit": "3"})
    rest = filled.simulate_post("/query/search", json={}, params={"cursor": search.headers["x-next-cursor"]})
    assert ids(search) + ids(rest) == ["asset-001", "asset-002", "asset-003", "asset-004"]


@pytest.mark.parametrize(
    ("params", "code"),
    [({"limit": "0"}, "invalid_input"), ({"limit": "5000"}, "invalid_input"), ({"limit": "ten"}, "invalid_input"),
     ({"cursor": "!!!"}, "invalid_cursor"), ({"cursor": "Zm9v"}, "invalid_cursor")],
)  # fmt: skip
def test_bad_page_parameters_are_400(filled: testing.TestClient, params: dict[str, str], code: str) -> None:
    assert_problem(filled.simulate_get("/query/by-type/model", params=params), 400, code)


# -- everything else ------------------------------------------------------------------------


def test_unknown_routes_and_methods(client: testing.TestClient) -> None:
    assert_problem(client.simulate_get("/nothing/here"), 404, "route_not_found")
    assert_problem(client.simulate_patch("/assets/asset-001", json={}), 405, "method_not_allowed")
    assert_problem(client.simulate_get("/query/search"), 405, "method_not_allowed")


def test_health_and_readiness(client: testing.TestClient) -> None:
    assert client.simulate_get("/healthz").json == {"status": "ok"}
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"status": "ready", "backends": {"metadata": "ok", "blobs": "ok", "jobs": "ok"}}


def test_a_read_only_replica_serves_reads_and_refuses_writes(services: Services) -> None:
    writer = testing.TestClient(create_app(services, "write"))
    reader = testing.TestClient(create_app(services, "read"))
    assert writer.simulate_post("/assets", json=SEED_ASSET).status_code == 201
    assert reader.simulate_get("/query/by-id/asset-001").status_code == 200
    assert_problem(reader.simulate_post("/assets", json=SEED_ASSET), 405, "write_routes_not_served")
    assert_problem(reader.simulate_delete("/assets/asset-001"), 405, "write_routes_not_served")
    assert_problem(writer.simulate_get("/query/by-id/asset-001"), 405, "read_routes_not_served")
    assert_problem(writer.simulate_post("/graphql", json={"query": "{x}"}), 405, "read_routes_not_served")


def test_head_answers_where_get_does(filled: testing.TestClient) -> None:
    got = filled.simulate_get("/query/by-id/asset-001")
    head = filled.simulate_head("/query/by-id/asset-001")
    assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", got.headers["etag"])
    assert head.headers["content-length"] == got.headers["content-length"]
    assert filled.simulate_head("/query/by-type/model?limit=1").headers["x-next-cursor"]
    assert filled.simulate_head("/query/by-id/nothing").status_code == 404
