"""The registry's use cases over the in-memory metadata store."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from assets_registry.core.errors import (
    AssetExists,
    AssetNotFound,
    FieldError,
    InvalidAsset,
    InvalidFilter,
    InvalidInput,
    RevisionMismatch,
)
from assets_registry.core.filters import FilterLimits
from assets_registry.core.lookups import Lookup
from assets_registry.core.model import Asset
from assets_registry.core.pagination import PageLimits
from assets_registry.core.ports import Page, StoredAsset, Validator
from assets_registry.core.registry import Registry
from assets_registry.testing.documents import asset_document
from assets_registry.testing.memory import MemoryMetadataStore
from tests.seed import SEED_ASSET

SEED_BODY = SEED_ASSET  # the body of the seed's POST /assets cURL example


@pytest.fixture
def store() -> MemoryMetadataStore:
    return MemoryMetadataStore()


@pytest.fixture
def registry(store: MemoryMetadataStore) -> Registry:
    return Registry(store)


# -- create ---------------------------------------------------------------------------------


def test_create_stores_the_validated_document_at_revision_1(registry: Registry) -> None:
    stored = registry.create(dict(SEED_BODY))
    assert stored.revision == 1
    assert stored.asset_id == "asset-001"
    assert stored.document["asset_brief_description"] is None
    assert stored.document["profiles"][0]["asset_tags"] == []
    assert registry.get("asset-001") == stored


def test_create_of_a_taken_id_raises_asset_exists_and_keeps_the_first(registry: Registry) -> None:
    registry.create(asset_document("a", version="v1"))
    with pytest.raises(AssetExists) as caught:
        registry.create(asset_document("a", version="v2"))
    assert caught.value.code == "asset_exists"
    assert registry.get("a").document["asset_version"] == "v1"


def test_create_of_an_invalid_document_stores_nothing(registry: Registry, store: MemoryMetadataStore) -> None:
    with pytest.raises(InvalidAsset, match=r"asset_uri: expected str, got int"):
        registry.create({**SEED_BODY, "asset_uri": 5})
    with pytest.raises(AssetNotFound):
        store.get("asset-001")


def test_validate_returns_the_asset_without_storing_it(registry: Registry, store: MemoryMetadataStore) -> None:
    asset = registry.validate(dict(SEED_BODY))
    assert isinstance(asset, Asset)
    assert asset.asset_id == "asset-001"
    with pytest.raises(AssetNotFound):
        store.get("asset-001")


# -- update ---------------------------------------------------------------------------------


def test_update_changes_only_the_given_fields(registry: Registry) -> None:
    before = registry.create(dict(SEED_BODY)).document
    after = registry.update("asset-001", {"asset_brief_description": "Updated description"})
    assert after.revision == 2
    assert after.document["asset_brief_description"] == "Updated description"
    assert {k: v for k, v in after.document.items() if k != "asset_brief_description"} == {
        k: v for k, v in before.items() if k != "asset_brief_description"
    }
    assert registry.get("asset-001") == after


def test_update_replaces_a_whole_top_level_list(registry: Registry) -> None:
    registry.create(asset_document("a", tags=["old"]))
    new_profile = {"asset_profile_id": "p2", "asset_type": "data", "asset_sub_type": "table"}
    document = registry.update("a", {"profiles": [new_profile]}).document
    assert [p["asset_profile_id"] for p in document["profiles"]] == ["p2"]
    assert document["profiles"][0]["asset_id"] == "a"
    assert document["profiles"][0]["asset_tags"] == []


def test_update_validates_the_merged_document_as_a_whole(registry: Registry) -> None:
    original = registry.create(asset_document("a"))
    with pytest.raises(InvalidAsset) as caught:
        registry.update("a", {"asset_file_ids": ["weights.bin"]})
    assert [str(e) for e in caught.value.errors] == ["asset_file_ids[0]: 'weights.bin' has no entry in files[]"]
    assert registry.get("a") == original


def test_update_with_a_complete_file_list_succeeds(registry: Registry) -> None:
    registry.create(asset_document("a"))
    file = {
        "asset_file_id": "w.bin",
        "asset_file_type": "weights",
        "asset_file_mime_type": "x/y",
        "asset_file_url": "u",
    }
    document = registry.update("a", {"asset_file_ids": ["w.bin"], "files": [file]}).document
    assert document["asset_file_ids"] == ["w.bin"]
    assert document["files"][0]["asset_file_metadata"] is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"asset_version": 2}, "asset_version: expected str, got int"),
        ({"asset_verison": "v2"}, "asset_verison: is not a field of this object; did you mean 'asset_version'?"),
        ({"asset_uri": None}, "asset_uri: expected str, got null"),
    ],
)
def test_an_invalid_update_changes_nothing(registry: Registry, changes: dict[str, Any], message: str) -> None:
    original = registry.create(asset_document("a"))
    with pytest.raises(InvalidAsset) as caught:
        registry.update("a", changes)
    assert [str(e) for e in caught.value.errors] == [message]
    assert registry.get("a") == original


@pytest.mark.parametrize("changes", [[], "x", None, 1])
def test_an_update_must_be_an_object(registry: Registry, changes: Any) -> None:
    registry.create(asset_document("a"))
    with pytest.raises(InvalidAsset, match="an update must be a JSON object"):
        registry.update("a", changes)


def test_changing_the_asset_id_is_refused(registry: Registry) -> None:
    original = registry.create(asset_document("a"))
    with pytest.raises(InvalidAsset) as caught:
        registry.update("a", {"asset_id": "b"})
    assert caught.value.errors[0].path == "asset_id"
    assert "cannot be changed" in caught.value.errors[0].message
    assert registry.get("a") == original
    with pytest.raises(AssetNotFound):
        registry.get("b")


def test_naming_the_same_asset_id_in_an_update_is_allowed(registry: Registry) -> None:
    registry.create(asset_document("a"))
    assert registry.update("a", {"asset_id": "a", "asset_version": "v9"}).document["asset_version"] == "v9"


def test_update_of_an_unknown_asset_is_not_found(registry: Registry) -> None:
    with pytest.raises(AssetNotFound):
        registry.update("nope", {"asset_version": "v2"})


def test_update_with_the_current_revision_applies(registry: Registry) -> None:
    registry.create(asset_document("a"))
    assert registry.update("a", {"asset_version": "v2"}, expected_revision=1).revision == 2
    assert registry.update("a", {"asset_version": "v3"}, expected_revision=2).revision == 3


def test_update_with_a_stale_revision_raises_and_changes_nothing(registry: Registry) -> None:
    registry.create(asset_document("a"))
    current = registry.update("a", {"asset_version": "v2"})
    with pytest.raises(RevisionMismatch) as caught:
        registry.update("a", {"asset_version": "v3"}, expected_revision=1)
    assert caught.value.code == "revision_mismatch"
    assert registry.get("a") == current


def test_a_no_op_update_keeps_the_revision(registry: Registry) -> None:
    created = registry.create(asset_document("a", version="v1"))
    same = registry.update("a", {"asset_version": "v1"})
    assert same.revision == 1
    assert same.document == created.document
    assert registry.update("a", {}).revision == 1
    assert registry.get("a").revision == 1


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"x": 1}, {"x": True}),
        ({"x": 0}, {"x": False}),
        ({"x": 1}, {"x": 1.0}),
        ({"x": 1, "y": 2}, {"y": 2, "x": 1}),
        ({"x": [1]}, {"x": [True]}),
    ],
)
def test_an_update_that_only_a_json_reader_can_see_is_still_stored(
    registry: Registry, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """True is not 1, 1.0 is written differently from 1, and key order is part of a document."""
    registry.create(asset_document("a", asset_container_registry_creds_config=before))
    updated = registry.update("a", {"asset_container_registry_creds_config": after})
    assert updated.revision == 2
    stored = registry.get("a").document["asset_container_registry_creds_config"]
    assert repr(stored) == repr(after)


class RacingStore(MemoryMetadataStore):
    """Holds the first two readers until both have read, so both update the same revision."""

    def __init__(self) -> None:
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=10)
        self.armed = False
        self.reads = 0
        self.mismatches = 0
        self.count_lock = threading.Lock()

    def get(self, asset_id: str) -> StoredAsset:
        stored = super().get(asset_id)
        with self.count_lock:
            self.reads += 1
            wait = self.armed and self.reads <= 2
        if wait:
            self.barrier.wait()
        return stored

    def update(self, asset_id: str, document: dict[str, Any], expected_revision: int) -> StoredAsset:
        try:
            return super().update(asset_id, document, expected_revision)
        except RevisionMismatch:
            with self.count_lock:
                self.mismatches += 1
            raise


def test_concurrent_updates_of_different_fields_both_survive() -> None:
    store = RacingStore()
    registry = Registry(store)
    registry.create(asset_document("a"))
    store.armed = True
    errors: list[BaseException] = []

    def change(fields: dict[str, Any]) -> None:
        try:
            registry.update("a", fields)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=change, args=({"asset_brief_description": "from thread 1"},)),
        threading.Thread(target=change, args=({"asset_workflow_id": "from-thread-2"},)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert store.mismatches == 1, "both threads must have raced on the same revision"
    final = registry.get("a")
    assert final.document["asset_brief_description"] == "from thread 1"
    assert final.document["asset_workflow_id"] == "from-thread-2"
    assert final.revision == 3


class SneakyStore(MemoryMetadataStore):
    """Lets another writer change the asset between the registry's read and its write, once."""

    def __init__(self) -> None:
        super().__init__()
        self.sneak: dict[str, Any] | None = None

    def update(self, asset_id: str, document: dict[str, Any], expected_revision: int) -> StoredAsset:
        if self.sneak is not None:
            other = {**super().get(asset_id).document, **self.sneak}
            self.sneak = None
            super().update(asset_id, other, expected_revision)
        return super().update(asset_id, document, expected_revision)


def test_an_update_racing_another_writer_is_retried_on_the_fresh_document() -> None:
    store = SneakyStore()
    registry = Registry(store)
    registry.create(asset_document("a"))
    store.sneak = {"asset_workflow_id": "theirs"}
    result = registry.update("a", {"asset_brief_description": "mine"})
    assert result.revision == 3
    assert result.document["asset_workflow_id"] == "theirs"
    assert result.document["asset_brief_description"] == "mine"


def test_an_update_with_expected_revision_racing_another_writer_is_not_retried() -> None:
    store = SneakyStore()
    registry = Registry(store)
    registry.create(asset_document("a"))
    store.sneak = {"asset_workflow_id": "theirs"}
    with pytest.raises(RevisionMismatch):
        registry.update("a", {"asset_brief_description": "mine"}, expected_revision=1)
    stored = registry.get("a")
    assert stored.revision == 2
    assert stored.document["asset_workflow_id"] == "theirs"
    assert stored.document["asset_brief_description"] is None


# -- delete and get -------------------------------------------------------------------------


def test_delete_removes_the_asset(registry: Registry) -> None:
    registry.create(asset_document("a"))
    registry.delete("a")
    with pytest.raises(AssetNotFound):
        registry.get("a")
    with pytest.raises(AssetNotFound):
        registry.delete("a")


def test_delete_with_a_stale_revision_keeps_the_asset(registry: Registry) -> None:
    registry.create(asset_document("a"))
    registry.update("a", {"asset_version": "v2"})
    with pytest.raises(RevisionMismatch):
        registry.delete("a", expected_revision=1)
    assert registry.get("a").revision == 2
    registry.delete("a", expected_revision=2)
    with pytest.raises(AssetNotFound):
        registry.get("a")


# -- validators -----------------------------------------------------------------------------


class RequireDescription:
    name = "needs-description"

    def __init__(self) -> None:
        self.seen: list[Asset] = []

    def validate(self, asset: Asset) -> list[FieldError]:
        self.seen.append(asset)
        if not asset.asset_brief_description:
            return [FieldError("asset_brief_description", "must say what the asset is")]
        return []


class ForbidTag:
    name = "no-secret-tag"

    def validate(self, asset: Asset) -> list[FieldError]:
        return [
            FieldError(f"profiles[{i}].asset_tags", "must not carry the tag 'secret'")
            for i, p in enumerate(asset.profiles)
            if "secret" in (p.asset_tags or [])
        ]


def test_a_validator_is_a_validator() -> None:
    assert isinstance(RequireDescription(), Validator)


def test_a_validator_blocks_create_with_its_name_in_the_message(store: MemoryMetadataStore) -> None:
    validator = RequireDescription()
    registry = Registry(store, validators=[validator])
    with pytest.raises(InvalidAsset) as caught:
        registry.create(asset_document("a"))
    assert caught.value.errors == [
        FieldError("asset_brief_description", "must say what the asset is (validator needs-description)")
    ]
    assert "(validator needs-description)" in caught.value.message
    assert isinstance(validator.seen[0], Asset)
    with pytest.raises(AssetNotFound):
        store.get("a")
    assert registry.create(asset_document("a", asset_brief_description="An LLM")).revision == 1


def test_a_validator_blocks_update_and_the_stored_asset_is_kept(store: MemoryMetadataStore) -> None:
    registry = Registry(store, validators=[RequireDescription()])
    original = registry.create(asset_document("a", asset_brief_description="An LLM"))
    with pytest.raises(InvalidAsset, match=r"\(validator needs-description\)"):
        registry.update("a", {"asset_brief_description": None})
    assert registry.get("a") == original


def test_every_validators_problems_are_reported(store: MemoryMetadataStore) -> None:
    registry = Registry(store, validators=[RequireDescription(), ForbidTag()])
    with pytest.raises(InvalidAsset) as caught:
        registry.create(asset_document("a", tags=["secret"]))
    assert [str(e) for e in caught.value.errors] == [
        "asset_brief_description: must say what the asset is (validator needs-description)",
        "profiles[0].asset_tags: must not carry the tag 'secret' (validator no-secret-tag)",
    ]


def test_validators_do_not_run_on_documents_the_model_refuses(store: MemoryMetadataStore) -> None:
    validator = RequireDescription()
    registry = Registry(store, validators=[validator])
    with pytest.raises(InvalidAsset, match="is required"):
        registry.create({"asset_id": "a"})
    assert validator.seen == []


# -- search, lookups, pages -----------------------------------------------------------------


@pytest.fixture
def filled(registry: Registry) -> Registry:
    registry.create(asset_document("a-llm", asset_type="model", sub_type="llm", tags=["gen"], routes=["api/v1/gen"]))
    registry.create(asset_document("b-vis", asset_type="model", sub_type="vision", tags=["image"], routes=["/see"]))
    registry.create(asset_document("c-data", asset_type="data", sub_type="table", tags=["gen"], version="v2"))
    registry.create(asset_document("d-tool", asset_type="tool", sub_type="llm", routes=["/api/v1/gen"]))
    return registry


def ids(page: Page) -> list[str]:
    return [d["asset_id"] for d in page.documents]


def test_search_returns_matches_in_id_order(filled: Registry) -> None:
    assert ids(filled.search({"profiles.asset_type": "model"})) == ["a-llm", "b-vis"]
    assert ids(filled.search({"asset_version": "v1", "profiles.asset_sub_type": "llm"})) == ["a-llm", "d-tool"]
    assert ids(filled.search({})) == ["a-llm", "b-vis", "c-data", "d-tool"]


def test_search_with_an_invalid_filter_raises_invalid_filter(filled: Registry) -> None:
    with pytest.raises(InvalidFilter, match=r"at \$where"):
        filled.search({"$where": "1"})
    with pytest.raises(InvalidFilter):
        filled.search(["not", "an", "object"])


def test_search_applies_the_registrys_filter_limits(store: MemoryMetadataStore) -> None:
    registry = Registry(store, filter_limits=FilterLimits(max_nodes=3))
    assert registry.search({"a": 1}).documents == []
    with pytest.raises(InvalidFilter, match="more than 3 parts"):
        registry.search({"$or": [{"a": 1}, {"b": 2}, {"c": 3}]})


def test_pages_follow_the_after_cursor(filled: Registry) -> None:
    first = filled.search({}, limit=3)
    assert ids(first) == ["a-llm", "b-vis", "c-data"]
    assert first.next_after == "c-data"
    second = filled.search({}, limit=3, after=first.next_after)
    assert ids(second) == ["d-tool"]
    assert second.next_after is None


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_page_sizes_outside_the_limits_are_refused(filled: Registry, limit: int) -> None:
    with pytest.raises(InvalidInput, match="limit must be between 1 and 1000"):
        filled.search({}, limit=limit)
    with pytest.raises(InvalidInput, match="limit must be between 1 and 1000"):
        filled.lookup(Lookup.TYPE, "model", limit=limit)


def test_the_default_page_size_applies_when_none_is_given(store: MemoryMetadataStore) -> None:
    registry = Registry(store, page_limits=PageLimits(default=2, maximum=3))
    for name in "abcde":
        registry.create(asset_document(name))
    assert ids(registry.search({})) == ["a", "b"]
    assert ids(registry.lookup(Lookup.TYPE, "model")) == ["a", "b"]
    assert ids(registry.search({}, limit=3)) == ["a", "b", "c"]
    with pytest.raises(InvalidInput, match="between 1 and 3"):
        registry.search({}, limit=4)


def test_lookups_answer_like_the_seeds_query_routes(filled: Registry) -> None:
    assert ids(filled.lookup(Lookup.TYPE, "model")) == ["a-llm", "b-vis"]
    assert ids(filled.lookup(Lookup.SUB_TYPE, "llm")) == ["a-llm", "d-tool"]
    assert ids(filled.lookup(Lookup.TAG, "gen")) == ["a-llm", "c-data"]
    assert ids(filled.lookup(Lookup.API_ROUTE, "api/v1/gen")) == ["a-llm", "d-tool"]
    assert ids(filled.lookup(Lookup.API_ROUTE, "/api/v1/gen")) == ["a-llm", "d-tool"]
    assert ids(filled.lookup(Lookup.API_ROUTE, "see")) == ["b-vis"]
    assert ids(filled.lookup(Lookup.TYPE, "nothing")) == []


class RecordingStore(MemoryMetadataStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, int, str | None]] = []

    def find_by_type(self, asset_type: str, limit: int, after: str | None = None) -> Page:
        self.calls.append(("find_by_type", asset_type, limit, after))
        return Page([])

    def find_by_sub_type(self, sub_type: str, limit: int, after: str | None = None) -> Page:
        self.calls.append(("find_by_sub_type", sub_type, limit, after))
        return Page([])

    def find_by_tag(self, tag: str, limit: int, after: str | None = None) -> Page:
        self.calls.append(("find_by_tag", tag, limit, after))
        return Page([])

    def find_by_api_route(self, route: str, limit: int, after: str | None = None) -> Page:
        self.calls.append(("find_by_api_route", route, limit, after))
        return Page([])


@pytest.mark.parametrize(
    ("lookup", "method"),
    [
        (Lookup.TYPE, "find_by_type"),
        (Lookup.SUB_TYPE, "find_by_sub_type"),
        (Lookup.TAG, "find_by_tag"),
        (Lookup.API_ROUTE, "find_by_api_route"),
    ],
)
def test_each_lookup_is_routed_to_its_store_method(lookup: Lookup, method: str) -> None:
    store = RecordingStore()
    registry = Registry(store)
    registry.lookup(lookup, "value", limit=7, after="k")
    registry.lookup(lookup, "other")
    assert store.calls == [(method, "value", 7, "k"), (method, "other", 100, None)]
