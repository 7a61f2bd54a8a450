"""The GraphQL API through ``execute_query``: the seed's examples, filters, paging and bounds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import GraphQLSchema, get_introspection_query, get_named_type, is_object_type

from assets_registry.apps.graphql_api import GRAPHIQL_HTML, build_schema, camel, execute_query
from assets_registry.core.registry import Registry
from assets_registry.testing.documents import asset_document
from assets_registry.testing.memory import MemoryMetadataStore

Result = tuple[int, dict[str, Any]]

SEED_BY_ID = """query {
getAssetById(assetId: "asset-001") {
assetId
assetUri
assetVersion
assetBriefDescription
}
}"""

SEED_BY_TYPE = """query {
getAssetsByType(assetType: "model") {
assetId
assetUri
profiles
}
}"""

RICH = asset_document(
    "asset-001",
    tags=["nlp", "chat"],
    routes=["/api/v1/generate"],
    asset_brief_description="A small language model",
    asset_container_uri="registry.example.com/llm:1",
    asset_container_registry_creds_config={"secret_ref": "pull-secret"},
    asset_workflow_id="wf-1",
    asset_policy_ids=["policy-1"],
    asset_api_ids=["api-0"],
    asset_file_ids=["weights/model.bin"],
    policies=[{"asset_policy_id": "policy-1", "asset_policy_type": "access", "asset_policy_rule_params": {"a": 1}}],
    files=[
        {
            "asset_file_id": "weights/model.bin",
            "asset_file_type": "weights",
            "asset_file_mime_type": "application/octet-stream",
            "asset_file_url": "s3://bucket/asset-001/model.bin",
            "asset_file_metadata": {"size": 1234},
        }
    ],
    index_mappings=[
        {
            "json_doc_id": "doc-1",
            "mapping_field_index": 0,
            "table_name": "t",
            "field_name": "f",
            "render_page_no": 1,
            "render_order_no": 2,
        }
    ],
)


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema()


@pytest.fixture
def registry() -> Registry:
    registry = Registry(MemoryMetadataStore())
    registry.create(RICH)
    registry.create(asset_document("asset-002", sub_type="vision", tags=["images"], version="v2"))
    registry.create(asset_document("asset-003", asset_type="data", sub_type="llm", routes=["v2/embed"]))
    return registry


@pytest.fixture
def run(schema: GraphQLSchema, registry: Registry) -> Any:
    def run(query: str, variables: dict[str, Any] | None = None, **extra: Any) -> Result:
        return execute_query(schema, registry, {"query": query, "variables": variables, **extra})

    return run


def data_of(result: Result) -> dict[str, Any]:
    status, body = result
    assert status == 200, body
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["assetId"] for item in items]


def codes(result: Result) -> list[str]:
    return [error["extensions"]["code"] for error in result[1]["errors"]]


# -- the seed's examples ------------------------------------------------------------------


def test_seed_get_asset_by_id(run: Any) -> None:
    assert data_of(run(SEED_BY_ID)) == {
        "getAssetById": {
            "assetId": "asset-001",
            "assetUri": "models://example.com/asset-001",
            "assetVersion": "v1",
            "assetBriefDescription": "A small language model",
        }
    }


def test_seed_get_assets_by_type_returns_profiles_as_stored(run: Any) -> None:
    found = data_of(run(SEED_BY_TYPE))["getAssetsByType"]
    assert ids(found) == ["asset-001", "asset-002"]
    assert found[0]["assetUri"] == "models://example.com/asset-001"
    assert found[0]["profiles"] == RICH["profiles"]
    assert found[0]["profiles"][0]["asset_sub_type"] == "llm"  # snake_case keys, as stored


def test_unknown_id_is_null_not_an_error(run: Any) -> None:
    assert data_of(run('{ getAssetById(assetId: "nope") { assetId } }')) == {"getAssetById": None}


# -- lookups --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "argument", "value", "expected"),
    [
        ("getAssetsByTag", "tag", "chat", ["asset-001"]),
        ("getAssetsByTag", "tag", "images", ["asset-002"]),
        ("getAssetsBySubType", "subType", "llm", ["asset-001", "asset-003"]),
        ("getAssetsByApiRoute", "route", "api/v1/generate", ["asset-001"]),
        ("getAssetsByApiRoute", "route", "/v2/embed", ["asset-003"]),
        ("getAssetsByType", "assetType", "tool", []),
    ],
)
def test_lookups(run: Any, field: str, argument: str, value: str, expected: list[str]) -> None:
    data = data_of(run(f"query($v: String!) {{ {field}({argument}: $v) {{ assetId }} }}", {"v": value}))
    assert ids(data[field]) == expected


# -- search filters -------------------------------------------------------------------------


def test_search_filter_as_generic_scalar_variable(run: Any) -> None:
    query = "query($f: GenericScalar) { searchAssets(filters: $f) { assetId } }"
    flt = {"profiles.asset_sub_type": "llm", "asset_version": {"$in": ["v1", "v9"]}}
    assert ids(data_of(run(query, {"f": flt}))["searchAssets"]) == ["asset-001", "asset-003"]


def test_search_filter_as_object_literal(run: Any) -> None:
    data = data_of(run('{ searchAssets(filters: {asset_version: "v2"}) { assetId } }'))
    assert ids(data["searchAssets"]) == ["asset-002"]
    nested = "{ searchAssets(filters: {asset_version: {_in: 1}, profiles: {_size: 1}}) { assetId } }"
    assert data_of(run(nested))["searchAssets"] == []  # plain field names, no operators


def test_search_filter_literal_with_variables_inside(run: Any) -> None:
    query = "query($v: String) { searchAssets(filters: {asset_version: $v}) { assetId } }"
    assert ids(data_of(run(query, {"v": "v2"}))["searchAssets"]) == ["asset-002"]


def test_search_filter_as_json_string_with_dotted_key(run: Any) -> None:
    flt = json.dumps({"profiles.asset_sub_type": "llm"})
    data = data_of(run(f"{{ searchAssets(filters: {json.dumps(flt)}) {{ assetId }} }}"))
    assert ids(data["searchAssets"]) == ["asset-001", "asset-003"]


def test_search_without_filter_lists_everything(run: Any) -> None:
    assert ids(data_of(run("{ searchAssets { assetId } }"))["searchAssets"]) == [
        "asset-001",
        "asset-002",
        "asset-003",
    ]


def test_where_filter_is_refused_with_invalid_filter(run: Any) -> None:
    query = "query($f: GenericScalar) { searchAssets(filters: $f) { assetId } }"
    status, body = run(query, {"f": {"$where": "sleep(1000)"}})
    assert status == 200
    assert body["data"] is None
    assert codes((status, body)) == ["invalid_filter"]
    assert "$where" in body["errors"][0]["message"]
    assert body["errors"][0]["path"] == ["searchAssets"]


def test_where_in_a_json_string_is_refused_too(run: Any) -> None:
    flt = json.dumps(json.dumps({"$or": [{"$where": "1"}]}))
    assert codes(run(f"{{ searchAssets(filters: {flt}) {{ assetId }} }}")) == ["invalid_filter"]


def test_malformed_json_string_filter(run: Any) -> None:
    assert codes(run('{ searchAssets(filters: "{not json") { assetId } }')) == ["malformed_json"]


def test_huge_integer_in_literal_filter_is_refused(run: Any) -> None:
    query = "{ searchAssets(filters: {asset_version: 123456789012345678901234567890}) { assetId } }"
    assert codes(run(query)) == ["malformed_json"]


# -- the Asset type -------------------------------------------------------------------------


def test_typed_nested_fields(run: Any) -> None:
    query = '{ getAssetById(assetId: "asset-001") { profileList { assetType assetTags assetSubType } } }'
    profiles = data_of(run(query))["getAssetById"]["profileList"]
    assert profiles == [{"assetType": "model", "assetTags": ["nlp", "chat"], "assetSubType": "llm"}]


def _selection(schema: GraphQLSchema, type_name: str) -> str:
    """Every field of an object type, with every field of the objects it holds."""
    parts = []
    kind = schema.get_type(type_name)
    assert is_object_type(kind)
    for name, field in kind.fields.items():
        named = get_named_type(field.type)
        parts.append(f"{name} {{ {_selection(schema, named.name)} }}" if is_object_type(named) else name)
    return " ".join(parts)


def _snake(value: Any) -> Any:
    """A typed GraphQL answer turned back into the stored document's shape."""
    if isinstance(value, list):
        return [_snake(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key.endswith("List"):
            continue
        name = "".join(f"_{ch.lower()}" if ch.isupper() else ch for ch in key)
        out[name] = item if name in ("profiles", "policies", "files", "apis", "index_mappings") else _snake(item)
    return out


def test_every_asset_field_resolves(run: Any, schema: GraphQLSchema) -> None:
    query = f'{{ getAssetById(assetId: "asset-001") {{ {_selection(schema, "Asset")} }} }}'
    asset = data_of(run(query))["getAssetById"]
    assert set(asset) >= {camel(name) for name in RICH}
    assert _snake(asset) == RICH  # every scalar and JSON field, as stored
    for raw, typed in [
        ("profiles", "profileList"),
        ("policies", "policyList"),
        ("files", "fileList"),
        ("apis", "apiList"),
        ("indexMappings", "indexMappingList"),
    ]:
        assert _snake(asset[typed]) == asset[raw]
    assert asset["indexMappingList"][0]["renderOrderNo"] == 2
    assert asset["policyList"][0]["assetPolicyRuleParams"] == {"a": 1}
    assert asset["fileList"][0]["assetFileMetadata"] == {"size": 1234}


def test_asset_fields_cover_the_model() -> None:
    asset = build_schema().type_map["Asset"]
    assert is_object_type(asset)
    names = set(asset.fields)
    expected = {
        "assetId", "assetUri", "assetVersion", "assetProfileId", "assetFileIds", "assetContainerUri",
        "assetPolicyIds", "assetContainerRegistryCredsConfig", "assetWorkflowId", "assetApiIds",
        "assetBriefDescription", "profiles", "policies", "files", "apis", "indexMappings",
        "profileList", "policyList", "fileList", "apiList", "indexMappingList",
    }  # fmt: skip
    assert names == expected


# -- pagination -----------------------------------------------------------------------------


def test_list_fields_page_with_cursor(run: Any) -> None:
    first = data_of(run("{ searchAssetsPage(limit: 2) { items { assetId } nextCursor } }"))["searchAssetsPage"]
    assert ids(first["items"]) == ["asset-001", "asset-002"]
    cursor = first["nextCursor"]
    assert isinstance(cursor, str)
    query = "query($c: String) { searchAssetsPage(limit: 2, cursor: $c) { items { assetId } nextCursor } }"
    second = data_of(run(query, {"c": cursor}))["searchAssetsPage"]
    assert second == {"items": [{"assetId": "asset-003"}], "nextCursor": None}
    plain = data_of(run("query($c: String) { searchAssets(limit: 2, cursor: $c) { assetId } }", {"c": cursor}))
    assert ids(plain["searchAssets"]) == ["asset-003"]


def test_lookup_page_and_seed_lookup_share_cursors(run: Any) -> None:
    query = '{ assetsPage(lookup: SUB_TYPE, value: "llm", limit: 1) { items { assetId } nextCursor } }'
    page = data_of(run(query))["assetsPage"]
    assert ids(page["items"]) == ["asset-001"]
    follow = 'query($c: String) { getAssetsBySubType(subType: "llm", limit: 1, cursor: $c) { assetId } }'
    assert ids(data_of(run(follow, {"c": page["nextCursor"]}))["getAssetsBySubType"]) == ["asset-003"]
    route = '{ assetsPage(lookup: API_ROUTE, value: "api/v1/generate") { items { assetId } nextCursor } }'
    assert data_of(run(route))["assetsPage"] == {"items": [{"assetId": "asset-001"}], "nextCursor": None}


def test_bad_cursor_and_limit_are_domain_errors(run: Any) -> None:
    assert codes(run('{ getAssetsByType(assetType: "model", cursor: "!!!") { assetId } }')) == ["invalid_cursor"]
    assert codes(run('{ getAssetsByType(assetType: "model", limit: 0) { assetId } }')) == ["invalid_input"]


# -- read-only and bounds -------------------------------------------------------------------


def test_mutation_is_refused(run: Any) -> None:
    status, body = run('mutation { getAssetById(assetId: "asset-001") { assetId } }')
    assert status == 400
    assert "data" not in body
    assert any("read-only" in error["message"] for error in body["errors"])
    assert set(codes((status, body))) == {"graphql_validation_failed"}


def test_subscription_is_refused(run: Any) -> None:
    assert run('subscription { getAssetById(assetId: "x") { assetId } }')[0] == 400


def test_over_deep_query_is_refused(run: Any) -> None:
    nested = "name " + "ofType { " * 25 + "name" + " }" * 25
    status, body = run(f'{{ __type(name: "Asset") {{ fields {{ type {{ {nested} }} }} }} }}')
    assert status == 400
    assert any("nests deeper" in error["message"] for error in body["errors"])
    deep_data = '{ getAssetById(assetId: "a") { profileList { a { b { c { d { e { f { g } } } } } } } } }'
    status, body = run(deep_data)
    assert status == 400
    assert any("nests deeper than 8" in error["message"] for error in body["errors"])


def test_introspection_for_graphiql_is_allowed(run: Any) -> None:
    schema = data_of(run(get_introspection_query(descriptions=True)))["__schema"]
    assert schema["queryType"]["name"] == "Query"
    assert schema["mutationType"] is None


def test_fragment_cycle_is_refused(run: Any) -> None:
    query = """
    { getAssetById(assetId: "asset-001") { ...A } }
    fragment A on Asset { assetId ...B }
    fragment B on Asset { assetUri ...A }
    """
    status, body = run(query)
    assert status == 400
    assert any("within itself" in error["message"] for error in body["errors"])


def test_fragments_cannot_hide_an_explosion(run: Any) -> None:
    fragments = [f"fragment F{i} on Asset {{ ...F{i + 1} ...F{i + 1} }}" for i in range(12)]
    query = '{ getAssetById(assetId: "asset-001") { ...F0 } } ' + " ".join(fragments)
    query += " fragment F12 on Asset { assetId }"
    status, body = run(query)
    assert status == 400
    assert any("more than 500 selections" in error["message"] for error in body["errors"])


def test_aliased_list_fields_are_bounded(run: Any) -> None:
    ok = " ".join(f'a{i}: getAssetsByType(assetType: "model") {{ assetId }}' for i in range(10))
    assert len(data_of(run(f"{{ {ok} }}"))) == 10
    too_many = " ".join(f'a{i}: getAssetsByType(assetType: "x{i}") {{ assetId }}' for i in range(11))
    status, body = run(f"{{ {too_many} }}")
    assert status == 400
    assert any("more than 10" in error["message"] for error in body["errors"])
    nested = " ".join(f"p{i}: profileList {{ assetType }}" for i in range(11))
    status, body = run(f'{{ getAssetById(assetId: "asset-1") {{ {nested} }} }}')
    assert status == 400
    assert any("aliases list fields more than 10" in error["message"] for error in body["errors"])


def test_top_level_fields_are_bounded_each_a_store_query(run: Any) -> None:
    """160 aliases of one lookup answered 16.9 MB of large assets: now at most 10 per query."""
    ok = " ".join(f'a{i}: getAssetById(assetId: "asset-1") {{ assetId }}' for i in range(10))
    assert run(f"{{ {ok} }}")[0] == 200
    many = " ".join(f'a{i}: getAssetById(assetId: "asset-1") {{ assetId profiles }}' for i in range(160))
    status, body = run(f"{{ {many} }}")
    assert status == 400
    assert any("more than 10 top-level fields" in error["message"] for error in body["errors"])


def test_the_fields_a_query_could_answer_are_bounded_by_its_page_sizes(run: Any) -> None:
    fields = " ".join(f"f{i}: assetId" for i in range(60))
    assert run(f'{{ getAssetsByType(assetType: "model", limit: 100) {{ {fields} }} }}')[0] == 200
    status, body = run(f'{{ getAssetsByType(assetType: "model", limit: 1000) {{ {fields} }} }}')
    assert status == 400
    assert any("more than 50000 fields" in error["message"] for error in body["errors"])
    status, _ = run(f'query($n: Int) {{ getAssetsByType(assetType: "model", limit: $n) {{ {fields} }} }}')
    assert status == 400, "a variable limit counts as the largest page"


def test_too_long_document_is_refused_before_parsing(run: Any) -> None:
    status, body = run("{ " + "assetId " * 20_000 + "}")
    assert status == 400
    assert codes((status, body)) == ["invalid_request"]


def test_syntax_error_is_400(run: Any) -> None:
    status, body = run("{ getAssetById(assetId: ) }")
    assert status == 400
    assert codes((status, body)) == ["graphql_parse_failed"]
    assert body["errors"][0]["locations"]


def test_deeply_nested_literal_is_refused(run: Any) -> None:
    status, _ = run("{ searchAssets(filters: " + "{a: " * 3000 + "1" + "}" * 3000 + ") { assetId } }")
    assert status == 400


# -- request shape and errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "query { x }",
        {},
        {"query": 3},
        {"query": "   "},
        {"query": "{ __typename }", "variables": [1]},
        {"query": "{ __typename }", "variables": "{}"},
        {"query": "{ __typename }", "operationName": 1},
    ],
)
def test_malformed_bodies_are_400(schema: GraphQLSchema, registry: Registry, body: Any) -> None:
    status, response = execute_query(schema, registry, body)
    assert status == 400
    assert response == {
        "errors": [{"message": response["errors"][0]["message"], "extensions": {"code": "invalid_request"}}]
    }


def test_variable_and_operation_errors_are_400(run: Any) -> None:
    status, body = run("query($f: GenericScalar!) { searchAssets(filters: $f) { assetId } }")
    assert (status, codes((status, body))) == (400, ["invalid_request"])
    assert "data" not in body
    status, body = run("query A { __typename } query B { __typename }", operationName="C")
    assert status == 400
    assert data_of(run("query A { __typename } query B { __typename }", operationName="B")) == {"__typename": "Query"}


def test_unexpected_errors_do_not_leak(schema: GraphQLSchema) -> None:
    class Broken(MemoryMetadataStore):
        def get(self, asset_id: str) -> Any:
            raise RuntimeError("secret connection string postgres://u:p@db")

    status, body = execute_query(schema, Registry(Broken()), {"query": SEED_BY_ID})
    assert status == 200
    assert body["data"] == {"getAssetById": None}
    assert body["errors"][0]["extensions"] == {"code": "internal_error", "classification": "INTERNAL_SERVER_ERROR"}
    assert "secret" not in json.dumps(body)


def test_graphiql_page_loads_only_the_packages_own_files() -> None:
    import re

    sources = re.findall(r'(?:src|href)="([^"]+)"', GRAPHIQL_HTML)
    assert sources and all(s.startswith("/static/vendor/") for s in sources), sources
    assert "window.location" in GRAPHIQL_HTML
