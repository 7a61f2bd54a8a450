"""The contract every ``CatalogStore`` adapter passes.

Subclass ``CatalogStoreContract`` in a ``Test*`` class and override the ``catalog`` fixture.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from assets_registry.core.errors import RecordChanged, RecordExists, RecordNotFound
from assets_registry.core.ports import CatalogStore


class CatalogStoreContract:
    @pytest.fixture
    def catalog(self) -> Iterator[CatalogStore]:
        raise NotImplementedError("override the catalog fixture with a fresh, empty store")

    def test_a_record_is_kept_whole_at_version_one(self, catalog: CatalogStore) -> None:
        document = {"name": "b", "policy": "readonly", "nested": {"n": [1, 2.5, None, True]}, "é": "ü"}
        assert catalog.insert("buckets", "b", document).version == 1
        record = catalog.get("buckets", "b")
        assert (record.key, record.document, record.version) == ("b", document, 1)

    def test_kinds_are_apart(self, catalog: CatalogStore) -> None:
        catalog.insert("buckets", "x", {"kind": "bucket"})
        catalog.insert("sources", "x", {"kind": "source"})
        catalog.insert("tokens", "x", {"kind": "token"})
        assert catalog.get("buckets", "x").document == {"kind": "bucket"}
        assert catalog.get("sources", "x").document == {"kind": "source"}
        assert catalog.get("tokens", "x").document == {"kind": "token"}
        assert [r.key for r in catalog.records("tokens", 10)] == ["x"]

    def test_a_key_is_inserted_once(self, catalog: CatalogStore) -> None:
        catalog.insert("sources", "a", {})
        with pytest.raises(RecordExists):
            catalog.insert("sources", "a", {"other": 1})
        assert catalog.get("sources", "a").document == {}

    def test_missing_records_are_not_found(self, catalog: CatalogStore) -> None:
        with pytest.raises(RecordNotFound):
            catalog.get("buckets", "nope")
        with pytest.raises(RecordNotFound):
            catalog.replace("buckets", "nope", {}, 1)
        with pytest.raises(RecordNotFound):
            catalog.delete("buckets", "nope")

    def test_replace_is_compare_and_set_on_the_version(self, catalog: CatalogStore) -> None:
        catalog.insert("sources", "a", {"n": 1})
        assert catalog.replace("sources", "a", {"n": 2}, 1).version == 2
        with pytest.raises(RecordChanged):
            catalog.replace("sources", "a", {"n": 3}, 1)
        assert catalog.get("sources", "a").document == {"n": 2}
        with pytest.raises(RecordChanged):
            catalog.delete("sources", "a", expected_version=1)
        catalog.delete("sources", "a", expected_version=2)
        with pytest.raises(RecordNotFound):
            catalog.get("sources", "a")

    def test_one_of_two_racing_writers_wins(self, catalog: CatalogStore) -> None:
        catalog.insert("sources", "a", {"holder": None})
        won: list[str] = []

        def take(name: str) -> None:
            try:
                catalog.replace("sources", "a", {"holder": name}, 1)
                won.append(name)
            except RecordChanged:
                pass

        threads = [threading.Thread(target=take, args=(f"w{n}",)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1
        assert catalog.get("sources", "a").document == {"holder": won[0]}

    def test_lists_are_in_key_order_paged_and_filtered_by_bucket(self, catalog: CatalogStore) -> None:
        for key, bucket in [("c", "one"), ("a", "two"), ("b", "one"), ("d", None)]:
            catalog.insert("sources", key, {"bucket": bucket})
        assert [r.key for r in catalog.records("sources", 10)] == ["a", "b", "c", "d"]
        assert [r.key for r in catalog.records("sources", 2)] == ["a", "b"]
        assert [r.key for r in catalog.records("sources", 10, after="b")] == ["c", "d"]
        assert [r.key for r in catalog.records("sources", 10, bucket="one")] == ["b", "c"]
        catalog.replace("sources", "b", {"bucket": "two"}, 1)
        assert [r.key for r in catalog.records("sources", 10, bucket="one")] == ["c"]
        assert catalog.records("buckets", 10) == []

    def test_due_records_come_soonest_first_and_follow_their_documents(self, catalog: CatalogStore) -> None:
        catalog.insert("sources", "later", {"due": 200.0})
        catalog.insert("sources", "sooner", {"due": 100})
        catalog.insert("sources", "never", {"due": None})
        catalog.insert("sources", "unset", {})
        assert [r.key for r in catalog.due("sources", 150.0, 10)] == ["sooner"]
        assert [r.key for r in catalog.due("sources", 1e12, 10)] == ["sooner", "later"]
        assert [r.key for r in catalog.due("sources", 1e12, 1)] == ["sooner"]
        catalog.replace("sources", "sooner", {"due": None}, 1)
        assert [r.key for r in catalog.due("sources", 1e12, 10)] == ["later"]
        assert catalog.due("buckets", 1e12, 10) == []
