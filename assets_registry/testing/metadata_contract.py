"""The contract every ``MetadataStore`` adapter passes.

Subclass ``MetadataStoreContract`` in a ``Test*`` class and override the ``store`` fixture
to return a fresh, empty store of your adapter.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from assets_registry.core.errors import AssetExists, AssetNotFound, RevisionMismatch
from assets_registry.core.filters import compile_filter
from assets_registry.core.lookups import Lookup, lookup_filter
from assets_registry.core.ports import MetadataStore, Page
from assets_registry.testing.documents import asset_document


def all_pages(fetch: Any, limit: int) -> list[str]:
    """Every asset id of a paged answer, following ``next_after`` to the end."""
    ids: list[str] = []
    after = None
    for _ in range(10_000):
        page: Page = fetch(limit, after)
        assert len(page.documents) <= limit
        ids += [d["asset_id"] for d in page.documents]
        if page.next_after is None:
            return ids
        assert page.documents, "a page that promises more must not be empty"
        after = page.next_after
    raise AssertionError("paging never ended")


CORPUS = [
    asset_document("a-llm", asset_type="model", sub_type="llm", tags=["generative", "text"],
                   routes=["api/v1/generate"]),
    asset_document("b-vision", asset_type="model", sub_type="vision", tags=["image"], routes=["/api/v1/see"]),
    asset_document("c-data", asset_type="data", sub_type="table", tags=["generative"], version="v2"),
    asset_document("d-tool", asset_type="tool", sub_type="llm", tags=[], routes=["/api/v1/generate"]),
    asset_document("é-unicode", asset_type="model", sub_type="llm", tags=["text"]),
    asset_document("Z-upper", asset_type="config", sub_type="yaml"),
]  # fmt: skip


class MetadataStoreContract:
    """Behaviour the registry relies on, whatever the backend."""

    @pytest.fixture
    def store(self) -> Iterator[MetadataStore]:
        raise NotImplementedError("override the store fixture with a fresh, empty store")

    @pytest.fixture
    def filled(self, store: MetadataStore) -> MetadataStore:
        for document in CORPUS:
            store.insert(document)
        return store

    # -- writes -------------------------------------------------------------------------

    def test_insert_then_get_returns_the_document_at_revision_1(self, store: MetadataStore) -> None:
        document = asset_document("asset-001", tags=["x"], asset_brief_description="ünïcode ✓")
        assert store.insert(document).revision == 1
        stored = store.get("asset-001")
        assert stored.document == document
        assert stored.revision == 1

    def test_insert_of_an_existing_id_conflicts_and_keeps_the_original(self, store: MetadataStore) -> None:
        store.insert(asset_document("asset-001", version="v1"))
        with pytest.raises(AssetExists):
            store.insert(asset_document("asset-001", version="v2"))
        assert store.get("asset-001").document["asset_version"] == "v1"

    def test_get_of_an_unknown_id_is_not_found(self, store: MetadataStore) -> None:
        with pytest.raises(AssetNotFound):
            store.get("nope")

    def test_update_replaces_the_document_and_its_lookups(self, store: MetadataStore) -> None:
        store.insert(asset_document("asset-001", asset_type="model"))
        updated = store.update("asset-001", asset_document("asset-001", asset_type="data"), 1)
        assert updated.revision == 2
        assert store.get("asset-001").document["profiles"][0]["asset_type"] == "data"
        assert store.find_by_type("model", 10).documents == []
        assert [d["asset_id"] for d in store.find_by_type("data", 10).documents] == ["asset-001"]

    def test_update_with_a_stale_revision_changes_nothing(self, store: MetadataStore) -> None:
        store.insert(asset_document("asset-001", version="v1"))
        store.update("asset-001", asset_document("asset-001", version="v2"), 1)
        with pytest.raises(RevisionMismatch):
            store.update("asset-001", asset_document("asset-001", version="v3"), 1)
        assert store.get("asset-001").document["asset_version"] == "v2"

    def test_update_of_an_unknown_id_is_not_found(self, store: MetadataStore) -> None:
        with pytest.raises(AssetNotFound):
            store.update("nope", asset_document("nope"), 1)

    def test_delete_removes_the_asset_and_its_lookups(self, store: MetadataStore) -> None:
        store.insert(asset_document("asset-001", tags=["t"]))
        store.delete("asset-001")
        with pytest.raises(AssetNotFound):
            store.get("asset-001")
        assert store.find_by_tag("t", 10).documents == []
        store.insert(asset_document("asset-001"))  # the id is free again

    def test_delete_of_an_unknown_id_is_not_found(self, store: MetadataStore) -> None:
        with pytest.raises(AssetNotFound):
            store.delete("nope")

    def test_delete_with_a_stale_revision_keeps_the_asset(self, store: MetadataStore) -> None:
        store.insert(asset_document("asset-001"))
        store.update("asset-001", asset_document("asset-001", version="v2"), 1)
        with pytest.raises(RevisionMismatch):
            store.delete("asset-001", expected_revision=1)
        store.delete("asset-001", expected_revision=2)

    def test_concurrent_inserts_of_one_id_let_exactly_one_win(self, store: MetadataStore) -> None:
        outcomes: list[str] = []
        barrier = threading.Barrier(8)

        def insert(n: int) -> None:
            barrier.wait()
            try:
                store.insert(asset_document("contested", version=f"v{n}"))
                outcomes.append("won")
            except AssetExists:
                outcomes.append("lost")

        threads = [threading.Thread(target=insert, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["lost"] * 7 + ["won"]

    # -- lookups ------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("lookup", "value", "expected"),
        [
            (Lookup.TYPE, "model", ["a-llm", "b-vision", "é-unicode"]),
            (Lookup.SUB_TYPE, "llm", ["a-llm", "d-tool", "é-unicode"]),
            (Lookup.TAG, "generative", ["a-llm", "c-data"]),
            (Lookup.API_ROUTE, "api/v1/generate", ["a-llm", "d-tool"]),
            (Lookup.API_ROUTE, "/api/v1/generate", ["a-llm", "d-tool"]),
            (Lookup.API_ROUTE, "api/v1/see", ["b-vision"]),
            (Lookup.TYPE, "absent", []),
            (Lookup.TAG, "Generative", []),
        ],
    )
    def test_lookups_find_exactly_the_matching_assets(
        self, filled: MetadataStore, lookup: Lookup, value: str, expected: list[str]
    ) -> None:
        finder = {
            Lookup.TYPE: filled.find_by_type,
            Lookup.SUB_TYPE: filled.find_by_sub_type,
            Lookup.TAG: filled.find_by_tag,
            Lookup.API_ROUTE: filled.find_by_api_route,
        }[lookup]
        assert all_pages(lambda limit, after: finder(value, limit, after), 100) == expected
        assert all_pages(lambda limit, after: finder(value, limit, after), 1) == expected
        by_filter = all_pages(lambda limit, after: filled.find(lookup_filter(lookup, value), limit, after), 2)
        assert by_filter == expected

    # -- search -------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            ({"asset_version": "v1", "profiles.asset_type": "model"}, ["a-llm", "b-vision", "é-unicode"]),
            ({}, ["Z-upper", "a-llm", "b-vision", "c-data", "d-tool", "é-unicode"]),
            ({"profiles.asset_tags": {"$all": ["generative", "text"]}}, ["a-llm"]),
            ({"profiles.asset_tags": {"$size": 0}}, ["Z-upper", "d-tool"]),
            ({"asset_id": "c-data"}, ["c-data"]),
            ({"asset_id": {"$in": ["c-data", "zzz", "a-llm"]}}, ["a-llm", "c-data"]),
            ({"$or": [{"asset_version": "v2"}, {"apis.asset_api_route": {"$regex": "^/api"}}]},
             ["b-vision", "c-data", "d-tool"]),
            ({"profiles": {"$elemMatch": {"asset_type": "model", "asset_sub_type": "vision"}}}, ["b-vision"]),
            ({"profiles.asset_type": {"$nin": ["model", "data"]}}, ["Z-upper", "d-tool"]),
            ({"apis.0.asset_api_route": {"$exists": True}}, ["a-llm", "b-vision", "d-tool"]),
        ],
    )  # fmt: skip
    def test_search_finds_exactly_the_matching_assets_in_id_order(
        self, filled: MetadataStore, flt: dict[str, Any], expected: list[str]
    ) -> None:
        compiled = compile_filter(flt)
        for limit in (1, 2, 100):
            assert all_pages(lambda lim, after: filled.find(compiled, lim, after), limit) == expected

    def test_search_after_an_id_starts_past_it(self, filled: MetadataStore) -> None:
        page = filled.find(compile_filter({}), 2, after="b-vision")
        assert [d["asset_id"] for d in page.documents] == ["c-data", "d-tool"]
        assert page.next_after == "d-tool"

    def test_check_passes_on_a_working_backend(self, store: MetadataStore) -> None:
        store.check()
