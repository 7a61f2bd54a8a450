"""The asset model: the seed's JSON form, its defaults, and every validation rule with its path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from assets_registry.core.errors import FieldError, InvalidAsset, InvalidInput, MalformedJSON
from assets_registry.core.model import (
    ASSET_FIELDS,
    Asset,
    AssetAPI,
    AssetFile,
    AssetPolicy,
    AssetProfile,
    IndexMapping,
    asset_from_document,
    asset_to_document,
    json_path,
    json_type,
)
from assets_registry.testing.documents import asset_document
from tests.seed import SEED_ASSET

SEED_BODY = SEED_ASSET  # the body of the seed's POST /assets cURL example

# What the seed body becomes once validated: every field present, defaults filled in.
SEED_DOCUMENT: dict[str, Any] = {
    "asset_id": "asset-001",
    "asset_uri": "models://example.com/asset-001",
    "asset_version": "v1",
    "asset_profile_id": "profile-001",
    "asset_file_ids": [],
    "asset_container_uri": None,
    "asset_policy_ids": [],
    "asset_container_registry_creds_config": None,
    "asset_workflow_id": None,
    "asset_api_ids": [],
    "asset_brief_description": None,
    "profiles": [
        {
            "asset_profile_id": "profile-001",
            "asset_type": "model",
            "asset_sub_type": "llm",
            "asset_id": "asset-001",
            "asset_metadata": None,
            "asset_creator_info": None,
            "asset_tags": [],
            "asset_description": None,
            "asset_complete_docs_url": None,
            "asset_man_page_url": None,
            "asset_sample_input_json": None,
            "asset_sample_output_json": None,
            "asset_sample_input_data_url": None,
            "asset_sample_output_data_url": None,
            "asset_author_metadata": None,
        }
    ],
    "policies": [],
    "files": [],
    "apis": [],
    "index_mappings": [],
}

# The smallest valid document: the five required top-level fields.
MINIMAL: dict[str, Any] = {
    "asset_id": "a",
    "asset_uri": "u",
    "asset_version": "v",
    "asset_profile_id": "p",
    "asset_file_ids": [],
}

PROFILE: dict[str, Any] = {"asset_profile_id": "p1", "asset_type": "model", "asset_sub_type": "llm"}
POLICY: dict[str, Any] = {"asset_policy_id": "pol1", "asset_policy_type": "access"}
API: dict[str, Any] = {"asset_api_id": "api1"}
INDEX_MAPPING: dict[str, Any] = {
    "json_doc_id": "doc",
    "mapping_field_index": 0,
    "table_name": "t",
    "field_name": "f",
    "render_page_no": 1,
    "render_order_no": 2,
}


def file_entry(file_id: str) -> dict[str, Any]:
    return {
        "asset_file_id": file_id,
        "asset_file_type": "weights",
        "asset_file_mime_type": "application/octet-stream",
        "asset_file_url": f"file:///blobs/{file_id}",
    }


def with_(**fields: Any) -> dict[str, Any]:
    """The minimal document with some fields set (a deep copy: tests may not share state)."""
    return copy.deepcopy({**MINIMAL, **fields})


def problems(document: Any) -> list[str]:
    """The rendered problems ``asset_from_document`` reports (fails the test if it accepts)."""
    with pytest.raises(InvalidAsset) as caught:
        asset_from_document(document)
    assert caught.value.code == "invalid_asset"
    assert caught.value.errors, "an InvalidAsset must list its problems"
    return [str(e) for e in caught.value.errors]


# -- the seed's document ------------------------------------------------------------------


def test_the_seed_body_validates_with_every_default_filled_in() -> None:
    asset = asset_from_document(copy.deepcopy(SEED_BODY))
    assert isinstance(asset, Asset)
    assert isinstance(asset.profiles[0], AssetProfile)
    assert asset.profiles[0].asset_type == "model"
    assert asset_to_document(asset) == SEED_DOCUMENT


def test_the_validated_seed_document_round_trips_unchanged_and_in_seed_order() -> None:
    document = asset_to_document(asset_from_document(copy.deepcopy(SEED_BODY)))
    again = asset_to_document(asset_from_document(document))
    assert again == document
    assert list(again) == list(ASSET_FIELDS)
    assert list(again["profiles"][0]) == list(SEED_DOCUMENT["profiles"][0])


def test_validation_does_not_modify_the_callers_document() -> None:
    body = copy.deepcopy(SEED_BODY)
    del body["profiles"][0]["asset_id"]
    before = copy.deepcopy(body)
    asset_from_document(body)
    assert body == before


def test_asset_fields_are_the_seeds_in_the_seeds_order() -> None:
    assert ASSET_FIELDS == (
        "asset_id",
        "asset_uri",
        "asset_version",
        "asset_profile_id",
        "asset_file_ids",
        "asset_container_uri",
        "asset_policy_ids",
        "asset_container_registry_creds_config",
        "asset_workflow_id",
        "asset_api_ids",
        "asset_brief_description",
        "profiles",
        "policies",
        "files",
        "apis",
        "index_mappings",
    )


def test_a_complete_document_with_every_field_set_round_trips() -> None:
    document = {
        "asset_id": "asset-002",
        "asset_uri": "models://example.com/asset-002",
        "asset_version": "2.0.1",
        "asset_profile_id": "prof",
        "asset_file_ids": ["weights/model.bin", "config.json"],
        "asset_container_uri": "registry.example.com/llm:2",
        "asset_policy_ids": ["pol"],
        "asset_container_registry_creds_config": {"user": "u", "nested": {"list": [1, 2.5, None, True]}},
        "asset_workflow_id": "wf",
        "asset_api_ids": ["api"],
        "asset_brief_description": "ünïcode ✓ and \u0000 in a description",
        "profiles": [
            {
                "asset_profile_id": "prof",
                "asset_type": "model",
                "asset_sub_type": "llm",
                "asset_id": "asset-002",
                "asset_metadata": {"params": 7_000_000_000},
                "asset_creator_info": {"org": "x"},
                "asset_tags": ["generative", "text"],
                "asset_description": "d",
                "asset_complete_docs_url": "https://docs",
                "asset_man_page_url": "https://man",
                "asset_sample_input_json": {"prompt": "hi"},
                "asset_sample_output_json": {"text": "hello"},
                "asset_sample_input_data_url": "s3://in",
                "asset_sample_output_data_url": "s3://out",
                "asset_author_metadata": {"name": "A"},
            }
        ],
        "policies": [
            {
                "asset_policy_id": "pol",
                "asset_id": "asset-002",
                "asset_policy_type": "access",
                "asset_policy_rule_uri": "opa://rule",
                "asset_policy_rule_config": {"allow": ["a"]},
                "asset_policy_rule_params": {"level": 3},
            }
        ],
        "files": [
            {**file_entry("config.json"), "asset_file_metadata": {"size": 12}},
            {**file_entry("weights/model.bin"), "asset_file_metadata": None},
        ],
        "apis": [
            {
                "asset_api_id": "api",
                "asset_id": "asset-002",
                "asset_api_metadata": {"v": 1},
                "asset_api_svc": "svc",
                "asset_api_route": "/api/v1/generate",
                "asset_api_protocol": "HTTP",
                "asset_protocol_specific_config": {"timeout": 30},
                "asset_api_man_page": "https://man",
                "asset_api_swagger_doc": "https://swagger",
                "asset_api_usage_samples": [{"request": {}, "response": {"ok": True}}],
            }
        ],
        "index_mappings": [{**INDEX_MAPPING, "mapping_field_index": -3, "render_page_no": 2**62}],
    }
    asset = asset_from_document(copy.deepcopy(document))
    assert isinstance(asset.policies[0], AssetPolicy)
    assert isinstance(asset.files[0], AssetFile)
    assert isinstance(asset.apis[0], AssetAPI)
    assert isinstance(asset.index_mappings[0], IndexMapping)
    assert asset_to_document(asset) == document


def test_free_form_fields_keep_their_values_types_and_key_order() -> None:
    config = {"z": 1, "a": 1.0, "m": True, "$dollar.key": None, "": [{"b": 2, "a": 1}]}
    document = asset_to_document(asset_from_document(with_(asset_container_registry_creds_config=config)))
    kept = document["asset_container_registry_creds_config"]
    assert kept == config
    assert list(kept) == ["z", "a", "m", "$dollar.key", ""]
    assert type(kept["z"]) is int
    assert type(kept["a"]) is float
    assert kept["m"] is True
    assert list(kept[""][0]) == ["b", "a"]


def test_defaults_of_nested_objects_are_filled_in() -> None:
    document = asset_to_document(
        asset_from_document(with_(apis=[dict(API)], policies=[dict(POLICY)], profiles=[dict(PROFILE)]))
    )
    assert document["apis"][0] == {
        "asset_api_id": "api1",
        "asset_id": "a",
        "asset_api_metadata": None,
        "asset_api_svc": None,
        "asset_api_route": None,
        "asset_api_protocol": None,
        "asset_protocol_specific_config": None,
        "asset_api_man_page": None,
        "asset_api_swagger_doc": None,
        "asset_api_usage_samples": [],
    }
    assert document["policies"][0] == {
        "asset_policy_id": "pol1",
        "asset_id": "a",
        "asset_policy_type": "access",
        "asset_policy_rule_uri": None,
        "asset_policy_rule_config": None,
        "asset_policy_rule_params": None,
    }
    assert document["profiles"][0]["asset_tags"] == []


def test_optional_lists_of_nested_objects_accept_null() -> None:
    document = asset_to_document(
        asset_from_document(
            with_(
                profiles=[{**PROFILE, "asset_tags": None}],
                apis=[{**API, "asset_api_usage_samples": None}],
            )
        )
    )
    assert document["profiles"][0]["asset_tags"] is None
    assert document["apis"][0]["asset_api_usage_samples"] is None


# -- non-object documents ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "kind"),
    [([], "list"), ([SEED_BODY], "list"), ("asset", "str"), (1, "int"), (1.5, "float"), (None, "null"), (True, "bool")],
)
def test_a_document_that_is_not_an_object_is_refused(document: Any, kind: str) -> None:
    with pytest.raises(InvalidAsset) as caught:
        asset_from_document(document)
    assert caught.value.errors == [FieldError("", f"an asset must be a JSON object, not {kind}")]
    assert caught.value.message == f"The asset is invalid: an asset must be a JSON object, not {kind}."
    assert isinstance(caught.value, InvalidInput)


# -- types, with the JSON path of each problem ---------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (with_(profiles=[{**PROFILE, "asset_type": 5}]), "profiles[0].asset_type: expected str, got int"),
        (
            with_(profiles=[PROFILE, {**PROFILE, "asset_profile_id": "p2", "asset_sub_type": None}]),
            "profiles[1].asset_sub_type: expected str, got null",
        ),
        (with_(asset_version=2), "asset_version: expected str, got int"),
        (with_(asset_uri=1.5), "asset_uri: expected str, got float"),
        (with_(asset_uri=["u"]), "asset_uri: expected str, got list"),
        (with_(asset_uri={"u": 1}), "asset_uri: expected str, got object"),
        (with_(asset_id=True), "asset_id: expected str, got bool"),
        (with_(asset_container_uri=5), "asset_container_uri: expected str, got int"),
        (with_(asset_file_ids=None), "asset_file_ids: expected list, got null"),
        (with_(asset_file_ids="f"), "asset_file_ids: expected list, got str"),
        (with_(asset_policy_ids=None), "asset_policy_ids: expected list, got null"),
        (with_(asset_api_ids=[1]), "asset_api_ids[0]: expected str, got int"),
        (
            with_(asset_container_registry_creds_config="secret"),
            "asset_container_registry_creds_config: expected object, got str",
        ),
        (
            with_(asset_container_registry_creds_config=[]),
            "asset_container_registry_creds_config: expected object, got list",
        ),
        (with_(profiles="model"), "profiles: expected list, got str"),
        (with_(profiles=[1]), "profiles[0]: expected object, got int"),
        (with_(profiles=[{**PROFILE, "asset_tags": [1]}]), "profiles[0].asset_tags[0]: expected str, got int"),
        (with_(profiles=[{**PROFILE, "asset_tags": "tag"}]), "profiles[0].asset_tags: expected list, got str"),
        (with_(profiles=[{**PROFILE, "asset_metadata": []}]), "profiles[0].asset_metadata: expected object, got list"),
        (
            with_(apis=[{**API, "asset_api_usage_samples": [1]}]),
            "apis[0].asset_api_usage_samples[0]: expected object, got int",
        ),
        (
            with_(files=[{**file_entry("f"), "asset_file_url": None}], asset_file_ids=["f"]),
            "files[0].asset_file_url: expected str, got null",
        ),
        (with_(policies=[{**POLICY, "asset_policy_type": 0}]), "policies[0].asset_policy_type: expected str, got int"),
    ],
)
def test_a_wrong_type_is_reported_with_its_json_path(document: dict[str, Any], expected: str) -> None:
    assert problems(document) == [expected]


@pytest.mark.parametrize("field_name", ["mapping_field_index", "render_page_no", "render_order_no"])
def test_a_boolean_is_not_accepted_for_an_integer_field(field_name: str) -> None:
    document = with_(index_mappings=[INDEX_MAPPING, {**INDEX_MAPPING, field_name: True}])
    assert problems(document) == [f"index_mappings[1].{field_name}: expected int, got bool"]


@pytest.mark.parametrize(("value", "kind"), [(1.0, "float"), ("1", "str"), (None, "null"), ([1], "list")])
def test_nothing_but_an_integer_is_accepted_for_an_integer_field(value: Any, kind: str) -> None:
    document = with_(index_mappings=[{**INDEX_MAPPING, "render_page_no": value}])
    assert problems(document) == [f"index_mappings[0].render_page_no: expected int, got {kind}"]


def test_an_integer_is_not_accepted_for_a_string_field_at_any_depth() -> None:
    document = with_(
        asset_uri=1,
        profiles=[{**PROFILE, "asset_description": 2}],
        index_mappings=[{**INDEX_MAPPING, "table_name": 3}],
    )
    assert problems(document) == [
        "asset_uri: expected str, got int",
        "profiles[0].asset_description: expected str, got int",
        "index_mappings[0].table_name: expected str, got int",
    ]


def test_every_problem_is_reported_and_the_message_counts_the_rest() -> None:
    document = with_(asset_uri=1, asset_version=None)
    del document["asset_profile_id"]
    with pytest.raises(InvalidAsset) as caught:
        asset_from_document(document)
    assert [str(e) for e in caught.value.errors] == [
        "asset_uri: expected str, got int",
        "asset_version: expected str, got null",
        "asset_profile_id: is required",
    ]
    assert caught.value.errors[0] == FieldError("asset_uri", "expected str, got int")
    assert caught.value.message == "The asset is invalid: asset_uri: expected str, got int (and 2 more problem(s))."


# -- required fields -----------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["asset_id", "asset_uri", "asset_version", "asset_profile_id", "asset_file_ids"])
def test_each_required_top_level_field_is_reported_when_missing(missing: str) -> None:
    document = with_()
    del document[missing]
    assert problems(document) == [f"{missing}: is required"]


def test_an_empty_object_lists_every_required_field() -> None:
    assert problems({}) == [
        "asset_id: is required",
        "asset_uri: is required",
        "asset_version: is required",
        "asset_profile_id: is required",
        "asset_file_ids: is required",
    ]


@pytest.mark.parametrize(
    ("key", "item", "missing"),
    [
        ("profiles", PROFILE, "asset_type"),
        ("profiles", PROFILE, "asset_sub_type"),
        ("profiles", PROFILE, "asset_profile_id"),
        ("policies", POLICY, "asset_policy_type"),
        ("apis", API, "asset_api_id"),
        ("index_mappings", INDEX_MAPPING, "render_order_no"),
        ("index_mappings", INDEX_MAPPING, "json_doc_id"),
    ],
)
def test_a_required_nested_field_is_reported_with_its_path(key: str, item: dict[str, Any], missing: str) -> None:
    broken = {k: v for k, v in item.items() if k != missing}
    assert problems(with_(**{key: [item, broken]})) == [f"{key}[1].{missing}: is required"]


def test_a_required_file_field_is_reported_with_its_path() -> None:
    broken = {k: v for k, v in file_entry("f").items() if k != "asset_file_mime_type"}
    assert problems(with_(files=[broken], asset_file_ids=["f"])) == ["files[0].asset_file_mime_type: is required"]


# -- unknown fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (with_(asset_verison="v2"), "asset_verison: is not a field of this object; did you mean 'asset_version'?"),
        (
            with_(asset_brief_desc="x"),
            "asset_brief_desc: is not a field of this object; did you mean 'asset_brief_description'?",
        ),
        (
            with_(profiles=[{**PROFILE, "asset_tag": ["a"]}]),
            "profiles[0].asset_tag: is not a field of this object; did you mean 'asset_tags'?",
        ),
        (
            with_(policies=[{**POLICY, "asset_policy_rul_uri": "x"}]),
            "policies[0].asset_policy_rul_uri: is not a field of this object; did you mean 'asset_policy_rule_uri'?",
        ),
        (
            with_(apis=[{**API, "asset_api_rout": "/x"}]),
            "apis[0].asset_api_rout: is not a field of this object; did you mean 'asset_api_route'?",
        ),
        (
            with_(files=[{**file_entry("f"), "asset_file_metdata": {}}], asset_file_ids=["f"]),
            "files[0].asset_file_metdata: is not a field of this object; did you mean 'asset_file_metadata'?",
        ),
        (
            with_(index_mappings=[{**INDEX_MAPPING, "render_pag_no": 1}]),
            "index_mappings[0].render_pag_no: is not a field of this object; did you mean 'render_page_no'?",
        ),
        (with_(zzzqqq=1), "zzzqqq: is not a field of this object"),
        (with_(profiles=[{**PROFILE, "xyzzy": 1}]), "profiles[0].xyzzy: is not a field of this object"),
    ],
)
def test_an_unknown_field_is_refused_with_a_hint(document: dict[str, Any], expected: str) -> None:
    assert problems(document) == [expected]


def test_files_have_no_asset_id_back_reference() -> None:
    document = with_(files=[{**file_entry("f"), "asset_id": "a"}], asset_file_ids=["f"])
    assert problems(document) == ["files[0].asset_id: is not a field of this object; did you mean 'asset_file_id'?"]


def test_free_form_objects_accept_any_keys() -> None:
    document = with_(profiles=[{**PROFILE, "asset_metadata": {"asset_tag": 1, "anything": {"deep": []}}}])
    metadata = asset_to_document(asset_from_document(document))["profiles"][0]["asset_metadata"]
    assert metadata == {"asset_tag": 1, "anything": {"deep": []}}


# -- asset_id back-references --------------------------------------------------------------


@pytest.mark.parametrize(("key", "item"), [("profiles", PROFILE), ("policies", POLICY), ("apis", API)])
def test_an_absent_back_reference_is_filled_from_the_parent(key: str, item: dict[str, Any]) -> None:
    document = asset_to_document(asset_from_document(with_(asset_id="parent-1", **{key: [dict(item)]})))
    assert document[key][0]["asset_id"] == "parent-1"


@pytest.mark.parametrize(("key", "item"), [("profiles", PROFILE), ("policies", POLICY), ("apis", API)])
def test_a_null_back_reference_is_filled_from_the_parent(key: str, item: dict[str, Any]) -> None:
    document = asset_to_document(asset_from_document(with_(asset_id="parent-1", **{key: [{**item, "asset_id": None}]})))
    assert document[key][0]["asset_id"] == "parent-1"


@pytest.mark.parametrize(("key", "item"), [("profiles", PROFILE), ("policies", POLICY), ("apis", API)])
def test_a_back_reference_naming_the_parent_is_kept(key: str, item: dict[str, Any]) -> None:
    document = asset_to_document(
        asset_from_document(with_(asset_id="parent-1", **{key: [{**item, "asset_id": "parent-1"}]}))
    )
    assert document[key][0]["asset_id"] == "parent-1"


@pytest.mark.parametrize(("key", "item"), [("profiles", PROFILE), ("policies", POLICY), ("apis", API)])
def test_a_back_reference_naming_another_asset_is_refused(key: str, item: dict[str, Any]) -> None:
    second = {**item, "asset_id": "other"}
    assert problems(with_(asset_id="parent-1", **{key: [dict(item), second]})) == [
        f"{key}[1].asset_id: 'other' differs from the asset's asset_id 'parent-1'; leave it out and it is filled in"
    ]


def test_a_back_reference_of_the_wrong_type_is_refused() -> None:
    assert problems(with_(profiles=[{**PROFILE, "asset_id": 5}])) == [
        "profiles[0].asset_id: 5 differs from the asset's asset_id 'a'; leave it out and it is filled in"
    ]


def test_back_references_of_several_lists_are_all_checked() -> None:
    document = with_(
        profiles=[{**PROFILE, "asset_id": "x"}],
        policies=[{**POLICY, "asset_id": "y"}],
        apis=[{**API, "asset_id": "z"}],
    )
    assert [p.split(":")[0] for p in problems(document)] == [
        "profiles[0].asset_id",
        "policies[0].asset_id",
        "apis[0].asset_id",
    ]


# -- asset_file_ids and files[] ------------------------------------------------------------


def test_file_ids_and_files_may_list_the_same_set_in_different_orders() -> None:
    document = with_(asset_file_ids=["b.bin", "a.bin"], files=[file_entry("a.bin"), file_entry("b.bin")])
    asset = asset_from_document(document)
    assert asset.asset_file_ids == ["b.bin", "a.bin"]
    assert [f.asset_file_id for f in asset.files] == ["a.bin", "b.bin"]


def test_a_listed_file_id_without_a_files_entry_is_refused() -> None:
    document = with_(asset_file_ids=["a.bin", "b.bin"], files=[file_entry("a.bin")])
    assert problems(document) == ["asset_file_ids[1]: 'b.bin' has no entry in files[]"]


def test_a_files_entry_not_listed_in_asset_file_ids_is_refused() -> None:
    document = with_(asset_file_ids=["a.bin"], files=[file_entry("a.bin"), file_entry("c.bin")])
    assert problems(document) == ["files[1].asset_file_id: 'c.bin' is not listed in asset_file_ids"]


def test_disagreement_in_both_directions_is_reported_both_ways() -> None:
    document = with_(asset_file_ids=["a.bin"], files=[file_entry("b.bin")])
    assert problems(document) == [
        "files[0].asset_file_id: 'b.bin' is not listed in asset_file_ids",
        "asset_file_ids[0]: 'a.bin' has no entry in files[]",
    ]


def test_a_duplicate_in_asset_file_ids_is_refused() -> None:
    document = with_(asset_file_ids=["a.bin", "a.bin"], files=[file_entry("a.bin")])
    assert problems(document) == ["asset_file_ids[1]: 'a.bin' appears more than once"]


def test_a_duplicate_files_entry_is_refused() -> None:
    document = with_(asset_file_ids=["a.bin"], files=[file_entry("a.bin"), file_entry("a.bin")])
    assert problems(document) == ["files[1].asset_file_id: 'a.bin' appears more than once"]


@pytest.mark.parametrize(
    ("key", "item", "id_field"),
    [
        ("profiles", PROFILE, "asset_profile_id"),
        ("policies", POLICY, "asset_policy_id"),
        ("apis", API, "asset_api_id"),
    ],
)
def test_duplicate_nested_ids_are_refused(key: str, item: dict[str, Any], id_field: str) -> None:
    document = with_(**{key: [dict(item), dict(item)]})
    assert problems(document) == [f"{key}[1].{id_field}: {item[id_field]!r} appears more than once"]


@pytest.mark.parametrize("key", ["asset_policy_ids", "asset_api_ids"])
def test_duplicate_listed_ids_are_refused(key: str) -> None:
    assert problems(with_(**{key: ["x", "y", "x"]})) == [f"{key}[2]: 'x' appears more than once"]


# -- identifier rules ----------------------------------------------------------------------

BAD_IDS = [
    ("", "must not be empty"),
    ("x" * 257, "must be at most 256 characters long"),
    ("a\x00b", "must not contain control characters"),
    ("a\nb", "must not contain control characters"),
    ("a\tb", "must not contain control characters"),
    ("a\x1fb", "must not contain control characters"),
    ("a\x7fb", "must not contain control characters"),
    ("a\x85b", "must not contain control characters"),
    ("a\x9fb", "must not contain control characters"),
    ("a/b", "must not contain '/'"),
    ("/", "must not contain '/'"),
    (" a", "must not start or end with whitespace"),
    ("a ", "must not start or end with whitespace"),
    ("a\u00a0", "must not start or end with whitespace"),
    ("\u3000a", "must not start or end with whitespace"),
    (".", "must not be '.' or '..'"),
    ("..", "must not be '.' or '..'"),
]
GOOD_IDS = ["asset-001", "x" * 256, "a b", "...", ".hidden", "a..b", "é-unicode", "模型", "😀", "a:b@c", "A"]


@pytest.mark.parametrize(("value", "reason"), BAD_IDS)
def test_a_bad_asset_id_is_refused(value: str, reason: str) -> None:
    assert problems(with_(asset_id=value)) == [f"asset_id: {value!r} {reason}"]


@pytest.mark.parametrize("value", GOOD_IDS)
def test_a_good_asset_id_is_accepted(value: str) -> None:
    assert asset_from_document(with_(asset_id=value, profiles=[dict(PROFILE)])).profiles[0].asset_id == value


@pytest.mark.parametrize(("value", "reason"), BAD_IDS)
@pytest.mark.parametrize(
    ("fields", "path"),
    [
        (lambda v: {"asset_profile_id": v}, "asset_profile_id"),
        (lambda v: {"asset_policy_ids": ["ok", v]}, "asset_policy_ids[1]"),
        (lambda v: {"asset_api_ids": [v]}, "asset_api_ids[0]"),
        (lambda v: {"profiles": [{**PROFILE, "asset_profile_id": v}]}, "profiles[0].asset_profile_id"),
        (lambda v: {"policies": [POLICY, {**POLICY, "asset_policy_id": v}]}, "policies[1].asset_policy_id"),
        (lambda v: {"apis": [{**API, "asset_api_id": v}]}, "apis[0].asset_api_id"),
    ],
)
def test_a_bad_nested_id_is_refused_with_its_path(value: str, reason: str, fields: Any, path: str) -> None:
    assert problems(with_(**fields(value))) == [f"{path}: {value!r} {reason}"]


@pytest.mark.parametrize("value", GOOD_IDS)
def test_a_good_nested_id_is_accepted(value: str) -> None:
    asset = asset_from_document(
        with_(
            asset_profile_id=value,
            profiles=[{**PROFILE, "asset_profile_id": value}],
            policies=[{**POLICY, "asset_policy_id": value}],
            apis=[{**API, "asset_api_id": value}],
            asset_policy_ids=[value],
            asset_api_ids=[value],
        )
    )
    assert asset.profiles[0].asset_profile_id == value
    assert asset.policies[0].asset_policy_id == value
    assert asset.apis[0].asset_api_id == value


BAD_FILE_IDS = [
    ("", "must not be empty"),
    ("f" * 1025, "must be at most 1024 characters long"),
    ("a\x00b", "must not contain control characters"),
    ("a\x7f", "must not contain control characters"),
    ("dir\\file.bin", "must use '/' between folders, not '\\'"),
    ("/etc/passwd", "must be a relative path (no leading '/')"),
    ("../up.bin", "must not have empty, '.' or '..' path segments"),
    ("a/../../b", "must not have empty, '.' or '..' path segments"),
    ("a/..", "must not have empty, '.' or '..' path segments"),
    ("..", "must not have empty, '.' or '..' path segments"),
    ("./a", "must not have empty, '.' or '..' path segments"),
    ("a//b", "must not have empty, '.' or '..' path segments"),
    ("a/", "must not have empty, '.' or '..' path segments"),
]
GOOD_FILE_IDS = ["model.bin", "weights/model.bin", "a/b/c/d.txt", "a..b/c", ".hidden/x", "f" * 1024, "é/模型 file"]


@pytest.mark.parametrize(("value", "reason"), BAD_FILE_IDS)
def test_a_bad_file_id_is_refused_in_both_lists(value: str, reason: str) -> None:
    document = with_(asset_file_ids=[value], files=[file_entry(value)])
    assert problems(document) == [
        f"asset_file_ids[0]: {value!r} {reason}",
        f"files[0].asset_file_id: {value!r} {reason}",
    ]


@pytest.mark.parametrize("value", GOOD_FILE_IDS)
def test_a_good_file_id_is_accepted(value: str) -> None:
    asset = asset_from_document(with_(asset_file_ids=[value], files=[file_entry(value)]))
    assert asset.asset_file_ids == [value]
    assert asset.files[0].asset_file_id == value


# -- helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        ((), ""),
        (("asset_id",), "asset_id"),
        (("profiles", 0, "asset_type"), "profiles[0].asset_type"),
        (("a", 1, 2, "b", "c"), "a[1][2].b.c"),
    ],
)
def test_json_path_renders_locations(loc: tuple[Any, ...], path: str) -> None:
    assert json_path(loc) == path


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "bool"),
        (False, "bool"),
        (0, "int"),
        (0.0, "float"),
        ("", "str"),
        ([], "list"),
        ({}, "object"),
    ],
)
def test_json_type_names_values_as_a_json_user_knows_them(value: Any, name: str) -> None:
    assert json_type(value) == name


def test_integers_beyond_64_bits_are_refused_whatever_the_source() -> None:
    """The ZIP ingest reads asset.json itself: the bound holds in the model, not only at HTTP."""
    document = asset_document("big") | {
        "index_mappings": [
            {"json_doc_id": "d", "mapping_field_index": 2**70, "table_name": "t", "field_name": "f",
             "render_page_no": 1, "render_order_no": 1}
        ]
    }  # fmt: skip
    with pytest.raises(MalformedJSON, match=r"index_mappings\[0\].mapping_field_index"):
        asset_from_document(document)


def test_a_hint_that_ends_in_a_question_gets_no_extra_full_stop() -> None:
    with pytest.raises(InvalidAsset) as caught:
        asset_from_document(asset_document("x") | {"asset_versoin": "v1"})
    assert caught.value.message.endswith("did you mean 'asset_version'?")


def test_a_lone_surrogate_is_an_invalid_asset_not_a_crash() -> None:
    with pytest.raises(InvalidAsset, match="surrogate"):
        asset_from_document(asset_document("x") | {"asset_brief_description": "\ud800"})
