"""Properties of the core, checked on generated assets, document sets and filters.

(a) Every valid asset survives the trip through JSON unchanged, and a sparse document (defaults
    and back-references left out) validates to the same complete document.
(b) The SQLite store answers every search and lookup, across all pages and page sizes, with
    exactly the documents the filter evaluator selects, in ``asset_id`` order, whatever index
    it narrows by; the in-memory fake does too, and the terms a filter declares required
    hold for every document it matches.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets_registry.core.bundles.export import manifest_of
from assets_registry.core.document_paths import split_path, string_terms
from assets_registry.core.filters import compile_filter
from assets_registry.core.json_values import parse_json
from assets_registry.core.model import (
    asset_from_document,
    asset_to_document,
)
from assets_registry.core.ports import StoredAsset
from assets_registry.testing.memory import MemoryMetadataStore
from tests.property.strategies import (
    PATHS,
    asset_documents,
    check_store_answers,
    document_sets,
    field_operators,
    filters,
    sparse_forms,
    sqlite_store,
)


@settings(max_examples=200)
@given(asset_documents())
def test_every_valid_asset_round_trips_through_json(document: dict[str, Any]) -> None:
    body = msgspec.json.encode(document)
    again = asset_to_document(asset_from_document(parse_json(body)))
    assert again == document
    # Byte-identical: same key order, 1 stays 1 and 1.0 stays 1.0, true stays true.
    assert msgspec.json.encode(again) == body


@settings(max_examples=150)
@given(st.data())
def test_a_sparse_document_validates_to_the_complete_one(data: st.DataObject) -> None:
    document = data.draw(asset_documents())
    sparse = data.draw(sparse_forms(document))
    again = asset_to_document(asset_from_document(sparse))
    assert msgspec.json.encode(again) == msgspec.json.encode(document)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document_sets(), st.lists(filters, min_size=1, max_size=4))
def test_sqlite_search_and_lookups_agree_with_the_filter_evaluator(
    documents: list[dict[str, Any]], filter_documents: list[dict[str, Any]]
) -> None:
    flts = [compile_filter(f) for f in filter_documents]
    with sqlite_store() as store:
        for document in documents:
            store.insert(document)
        check_store_answers(store, documents, flts)


@settings(max_examples=100, deadline=None)
@given(document_sets(), st.lists(filters, min_size=1, max_size=4))
def test_the_memory_store_agrees_with_the_filter_evaluator(
    documents: list[dict[str, Any]], filter_documents: list[dict[str, Any]]
) -> None:
    store = MemoryMetadataStore()
    for document in documents:
        store.insert(document)
    check_store_answers(store, documents, [compile_filter(f) for f in filter_documents])


@settings(max_examples=200, deadline=None)
@given(document_sets(), filters)
def test_every_match_holds_the_terms_its_filter_requires(
    documents: list[dict[str, Any]], filter_document: dict[str, Any]
) -> None:
    flt = compile_filter(filter_document)
    for document in documents:
        if not flt.matches(document):
            continue
        for path, required in flt.required_terms:
            assert string_terms(document, split_path(path)) & required, (path, required, document["asset_id"])


@settings(max_examples=200, deadline=None)
@given(document_sets(), filters, filters)
def test_logical_operators_combine_like_boolean_logic(
    documents: list[dict[str, Any]], first: dict[str, Any], second: dict[str, Any]
) -> None:
    a, b = compile_filter(first), compile_filter(second)
    both = compile_filter({"$and": [first, second]})
    either = compile_filter({"$or": [first, second]})
    neither = compile_filter({"$nor": [first, second]})
    for document in documents:
        assert both.matches(document) == (a.matches(document) and b.matches(document))
        assert either.matches(document) == (a.matches(document) or b.matches(document))
        assert neither.matches(document) == (not a.matches(document) and not b.matches(document))


@settings(max_examples=200, deadline=None)
@given(document_sets(), st.sampled_from(PATHS), field_operators)
def test_field_level_not_is_the_negation_of_its_operators(
    documents: list[dict[str, Any]], path: str, condition: dict[str, Any]
) -> None:
    positive = compile_filter({path: condition})
    negative = compile_filter({path: {"$not": condition}})
    for document in documents:
        assert negative.matches(document) is not positive.matches(document)


@settings(max_examples=100, deadline=None)
@given(asset_documents())
def test_the_downloads_asset_json_is_the_same_from_the_stored_text_or_the_document(document: dict[str, Any]) -> None:
    """SQLite hands over its JSON text, not decoded; the archive's ``asset.json`` (and so the
    digest its frames are kept under) must be the bytes the decoded document gives."""
    with sqlite_store() as store:
        store.insert(document)
        stored = store.get(document["asset_id"])
        assert stored.json is not None
        from_text = manifest_of(stored)
        assert from_text == manifest_of(StoredAsset(stored.document, stored.revision))
        assert msgspec.json.decode(from_text) == document
