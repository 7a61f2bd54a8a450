"""``/openapi.json``: valid OpenAPI 3.1 (openapi-spec-validator), built from the routes served,
its asset schema the model's, and its patterns exactly as wide as the server's own checks."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import falcon
import pytest
from falcon import testing
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator import validate

from assets_registry.apps.container import Services, build_container
from assets_registry.apps.http import create_app
from assets_registry.apps.http.api_schemas import (
    BUCKET_PATTERN,
    FILE_ID_PATTERN,
    ID_PATTERN,
    TOKEN_NAME_PATTERN,
    URL_PATTERN,
)
from assets_registry.apps.http.openapi import RouteBook, build_document
from assets_registry.apps.settings import Routes, load_settings
from assets_registry.core.bucket_names import bucket_name_problem
from assets_registry.core.errors import InvalidInput
from assets_registry.core.identifiers import file_id_problem, id_problem
from assets_registry.core.model import ASSET_FIELDS
from assets_registry.core.sources.model import source_spec


@pytest.mark.parametrize("routes", ["all", "read", "write"])
@pytest.mark.parametrize("auth", ["off", "tokens"])
def test_the_document_is_valid_openapi_3_1(embedded_services: Services, routes: Routes, auth: str) -> None:
    settings = embedded_services.settings.model_copy(update={"auth": auth})
    app = create_app(dataclasses.replace(embedded_services, settings=settings), routes)
    answer = testing.TestClient(app).simulate_get("/openapi.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    document = answer.json
    validate(document)
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    assert ("/query/search" in paths) == (routes != "write")
    assert ("/assets" in paths) == (routes != "read")
    assert "/buckets/{name}" in paths  # served everywhere (PUT answers 405 on a read replica)
    if auth == "tokens":
        assert document["security"] == [{"token": []}]
        assert paths["/healthz"]["get"]["security"] == []
        assert "401" in paths["/buckets"]["get"]["responses"]
    else:
        assert "security" not in document
        assert "401" not in paths["/buckets"]["get"]["responses"]


def test_every_route_served_is_described_with_its_methods(embedded_services: Services) -> None:
    document = testing.TestClient(create_app(embedded_services)).simulate_get("/openapi.json").json
    served = {
        (path, method)
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "head", "post", "put", "delete")
    }
    assert ("/assets/{asset_id}/files/{file_id}", "head") in served
    assert ("/zip/download/{asset_id}", "head") in served
    assert ("/query/by-id/{asset_id}", "head") in served
    assert ("/buckets/{name}", "delete") in served
    client = testing.TestClient(create_app(embedded_services))
    for path, method in served:  # each answers that method: no route is described that is not served
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        answer = client.simulate_request(method.upper(), concrete)
        assert answer.status_code != 405 or answer.json["code"] == "write_routes_not_served", (path, method)


def test_a_responder_without_a_description_stops_the_app() -> None:
    class Undescribed:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None: ...

    book = RouteBook(falcon.App())
    book.add("/nowhere", Undescribed())
    with pytest.raises(ValueError, match="/nowhere"):
        build_document(book, auth=False, max_page=1000)


def test_the_asset_schema_is_the_models(embedded_services: Services) -> None:
    schemas = (
        testing.TestClient(create_app(embedded_services)).simulate_get("/openapi.json").json["components"]["schemas"]
    )
    asset = schemas["Asset"]
    assert tuple(asset["properties"]) == ASSET_FIELDS
    assert set(asset["required"]) == {"asset_id", "asset_uri", "asset_version", "asset_profile_id", "asset_file_ids"}
    assert asset["additionalProperties"] is False
    assert "asset_id" not in schemas["AssetProfile"]["required"]  # filled in from the parent
    assert asset["properties"]["files"]["items"] == {"$ref": "#/components/schemas/AssetFile"}
    assert schemas["Problem"]["required"] == ["type", "title", "status", "code", "detail"]


def test_webhook_services_configured_are_the_names_a_source_may_give(tmp_path: Path) -> None:
    scan = {"name": "scan", "kind": "validation", "endpoint": "http://127.0.0.1:9/v", "retries": 0, "timeout": 10}
    settings = load_settings(data_dir=tmp_path, services=[scan])
    services = build_container(settings).services()
    try:
        document = testing.TestClient(create_app(services)).simulate_get("/openapi.json").json
    finally:
        services.close()
    assert document["components"]["schemas"]["SourceSpec"]["properties"]["services"]["items"]["enum"] == ["scan"]
    upload = document["paths"]["/zip/upload"]["post"]["parameters"]
    assert re.search(next(p for p in upload if p["name"] == "services")["schema"]["pattern"], "scan, scan")


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", ".", "..", " a", "a ", "a/b", "a\n", "a\x00", "a/../b", "/a", "a//b", "a/", "a\\b", "\u00a0a", "a\x85"]
)


@given(_TEXT)
def test_the_id_pattern_is_the_servers_rule(value: str) -> None:
    assert (re.search(ID_PATTERN, value) is not None) == (id_problem(value) is None), repr(value)


@given(_TEXT)
def test_the_file_id_pattern_is_the_servers_rule(value: str) -> None:
    assert (re.search(FILE_ID_PATTERN, value) is not None) == (file_id_problem(value) is None), repr(value)


@given(_TEXT | st.from_regex(r"[a-z0-9-]{2,5}\n?", fullmatch=True))
def test_the_bucket_pattern_is_the_servers_rule(value: str) -> None:
    assert (re.search(BUCKET_PATTERN, value) is not None) == (bucket_name_problem(value) is None), repr(value)


@given(
    st.sampled_from(["http://", "https://", "ftp://", "http://u:p@"]),
    _TEXT,
    st.sampled_from(["", ":80", ":0x", "/a b", "/ok"]),
)
def test_the_url_pattern_is_the_servers_rule(scheme: str, host: str, tail: str) -> None:
    url = scheme + host + tail
    try:
        source_spec("x", {"url": url})
        accepted = True
    except InvalidInput:
        accepted = False
    matched = re.search(URL_PATTERN, url) is not None
    assert matched or not accepted, repr(url)  # the pattern never refuses what the server takes
    if matched and not accepted:  # only ports past 65535, which a pattern cannot count
        assert re.search(r":\d{5}", url), repr(url)


@given(_TEXT | st.sampled_from(["anonymous", "system", "ci", "a" * 64, "a" * 65, "-a", "a.b_c-d"]))
def test_the_token_name_pattern_is_the_servers_rule(value: str) -> None:
    from assets_registry.core.access import RESERVED_NAMES, TOKEN_NAME

    taken = TOKEN_NAME.fullmatch(value) is not None and value not in RESERVED_NAMES
    assert (re.search(TOKEN_NAME_PATTERN, value) is not None) == taken, repr(value)
