"""The MongoDB store (on a real SecantusDB server) answers every search and lookup like SQLite.

The embedded store evaluates filters in Python (``core.filters`` over ``core.document_paths``);
the MongoDB store hands the same filter, its paths moved under ``doc.``, to the server. On
generated asset sets and filters, both must return the same asset ids on every page, for
page sizes 1, 3 and 1000, and the four lookups likewise.

Where the two disagreed, the side that deviates from MongoDB's documented query semantics
was found (query-arrays, query-embedded-documents, query-for-null-fields, comparison and
type bracketing): constructs SecantusDB gets wrong are kept out of the generated filters
below, each with a comment naming what it does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets_registry.adapters.mongodb.store import MongoMetadataStore
from assets_registry.core.filters import LOGICAL_OPERATORS, Filter, compile_filter
from assets_registry.core.lookups import Lookup, lookup_filter
from assets_registry.core.model import asset_from_document, asset_to_document
from assets_registry.core.ports import MetadataStore, Page
from tests.property.strategies import (
    ROUTES,
    SUB_TYPES,
    TAGS,
    TYPES,
    all_pages,
    document_sets,
    expected_ids,
    filters,
    sqlite_store,
)
from tests.servers.secantusdb import fresh_mongo_store

pytestmark = pytest.mark.real_servers

# -- documents whose fields hold values of every JSON type --------------------------------

SCALARS: list[Any] = [None, True, False, 0, 1, 1.0, 2, -1, 2.5, "", "a", "b", "1", "a\n", "B"]
MIXED = st.recursive(
    st.sampled_from(SCALARS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["k", "v"]), inner, max_size=2),
    ),
    max_leaves=4,
)


@st.composite
def mixed_document_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    """``document_sets`` with ``v`` fields of any JSON type in profiles and at the top."""
    documents = draw(document_sets())
    out = []
    for document in documents:
        if draw(st.booleans()):
            document["asset_container_registry_creds_config"] = {"v": draw(MIXED)}
        for profile in document["profiles"]:
            if draw(st.booleans()):
                profile["asset_metadata"] = {"v": draw(MIXED)} if draw(st.booleans()) else {}
        out.append(asset_to_document(asset_from_document(document)))
    return out


MIXED_PATHS = [
    "asset_container_registry_creds_config.v",
    "asset_container_registry_creds_config.v.k",
    "asset_container_registry_creds_config.v.0",
    "profiles.asset_metadata.v",
    "profiles.asset_metadata.v.k",
    "profiles.asset_metadata.v.1",
    "profiles.asset_metadata.v.0.k",
    "profiles.asset_metadata",
]
# Regular expressions: RE2 (ours) and PCRE (MongoDB) agree on these. Kept out because
# SecantusDB runs Python's re, which differs from PCRE there: \w and \b on non-ASCII letters
# (Unicode in Python, ASCII in PCRE without UCP), case-insensitive matching of special case
# pairs (Python folds "İ" and "ı" to "i"), and POSIX classes such as [[:alpha:]] (not in Python).
PATTERNS = ["^a", "b", "^$", "1", "a$", "^a$", "\n", "^B", "a.$", "^.$"]
comparable = st.sampled_from(SCALARS)
mixed_conditions = st.one_of(
    MIXED,
    st.builds(lambda v: {"$eq": v}, MIXED),
    st.builds(lambda v: {"$ne": v}, MIXED),
    st.builds(lambda op, v: {op: v}, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), comparable),
    st.builds(lambda vs: {"$in": vs}, st.lists(MIXED, max_size=3)),
    st.builds(lambda vs: {"$nin": vs}, st.lists(MIXED, max_size=3)),
    st.builds(lambda vs: {"$all": vs}, st.lists(comparable, min_size=1, max_size=2)),
    st.builds(lambda b: {"$exists": b}, st.booleans()),
    st.builds(lambda n: {"$size": n}, st.integers(0, 2)),
    st.builds(lambda p: {"$regex": p}, st.sampled_from(PATTERNS)),
    st.builds(lambda p, o: {"$regex": p, "$options": o}, st.sampled_from(PATTERNS), st.sampled_from(["i", "m", "s"])),
    st.builds(lambda op, v: {"$elemMatch": {op: v}}, st.sampled_from(["$eq", "$gt", "$lte", "$ne"]), comparable),
    st.builds(lambda v: {"$elemMatch": {"k": v}}, comparable),
)
_field_filters = st.one_of(
    st.builds(lambda p, c: {p: c}, st.sampled_from(MIXED_PATHS), mixed_conditions),
    st.builds(lambda p, c: {p: {"$not": c}}, st.sampled_from(MIXED_PATHS), mixed_conditions.filter(
        lambda c: isinstance(c, dict) and bool(c) and all(k.startswith("$") for k in c)
    )),
)  # fmt: skip
mixed_filters = st.recursive(
    _field_filters,
    lambda children: st.builds(
        lambda op, branches: {op: branches},
        st.sampled_from(["$and", "$or", "$nor"]),
        st.lists(children, min_size=1, max_size=2),
    ),
    max_leaves=3,
)

# -- constructs SecantusDB answers differently from MongoDB ---------------------------------

# 1. Null through arrays. Since MongoDB 9.0 (compatibility notes, "Null Comparisons on Dotted
#    Paths That Traverse Arrays") a dotted path that meets an empty array, an array of scalars
#    or a nested array evaluates as null: {"a.b": null} matches {a: []} and {a: [1]}, and
#    core.document_paths does so (tests/unit/test_filters.py pins it). SecantusDB, which
#    reports version 8.2, keeps the behaviour of MongoDB 8.x and earlier: such documents do not
#    match. Equality with null, $in/$nin/$all holding null, $gte/$lte null, and their negations
#    ($ne, $nin, $not) therefore answer differently on every dotted path.
# 2. $all with null or with an array. MongoDB documents {f: {$all: [x, y]}} as the same as
#    {$and: [{f: x}, {f: y}]}, and that a nested array in $all also matches a field equal to it.
#    SecantusDB's {f: {$all: [null]}} misses documents without f, and {f: {$all: [[1, 2]]}}
#    misses {f: [1, 2]}.
# 3. $all across array elements. {"profiles.asset_tags": {"$all": ["gen", "text"]}} must match
#    profiles [{asset_tags: ["gen"]}, {asset_tags: ["text"]}] (each value is in some element:
#    the $and form above). SecantusDB matches only when one element holds them all, so $all
#    with two or more values on a dotted path is kept out.
# 4. $elemMatch holding $and/$or/$nor ({a: {$elemMatch: {$or: [{k: 1}, {k: 5}]}}}, valid in
#    MongoDB): SecantusDB refuses it ("unknown operator: $or"). The generators never write it.
_NULL_MATCHING = ("$eq", "$ne", "$gte", "$lte", "$in", "$nin", "$all")


def _differs(dotted: bool, condition: Any) -> bool:
    """Whether SecantusDB answers this condition on a (dotted) path unlike MongoDB, as above."""
    if condition is None:
        return dotted
    if not (isinstance(condition, dict) and any(key.startswith("$") for key in condition)):
        return False  # a literal object or array: equality with it never matches a missing value
    for op, operand in condition.items():
        operands = operand if op in ("$in", "$nin", "$all") else [operand]
        if dotted and op in _NULL_MATCHING and any(item is None for item in operands):
            return True
        if op == "$all" and any(item is None or isinstance(item, list) for item in operand):
            return True
        if op == "$all" and dotted and len(operand) > 1:
            return True
        if op == "$not" and _differs(dotted, operand):
            return True
        if op == "$elemMatch" and (
            secantusdb_differs(operand) or _differs(False, operand) or any(k in LOGICAL_OPERATORS for k in operand)
        ):
            return True
    return False


def secantusdb_differs(filter_document: dict[str, Any]) -> bool:
    """Whether the filter uses, in any branch, a construct SecantusDB answers unlike MongoDB."""
    for key, condition in filter_document.items():
        if key in ("$and", "$or", "$nor"):
            if any(secantusdb_differs(branch) for branch in condition):
                return True
        elif not key.startswith("$") and _differs("." in key, condition):
            return True
    return False


def as_secantusdb_answers(strategy: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Filters of ``strategy`` without the constructs above."""
    return strategy.filter(lambda f: not secantusdb_differs(f))


# -- the comparison ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mongo(mongodb_url: str) -> Iterator[MongoMetadataStore]:
    with fresh_mongo_store(mongodb_url) as store:
        yield store


def find_page(store: MetadataStore, flt: Filter, limit: int, after: str | None) -> Page:
    return store.find(flt, limit, after)


def lookup_page(finder: Callable[[str, int, str | None], Page], value: str, limit: int, after: str | None) -> Page:
    return finder(value, limit, after)


def compare_stores(mongo: MongoMetadataStore, documents: list[dict[str, Any]], flts: list[Filter]) -> None:
    mongo.collection.delete_many({})
    with sqlite_store() as sqlite:
        for document in documents:
            sqlite.insert(document)
            mongo.insert(document)
        for flt in flts:
            evaluated = expected_ids(documents, flt)
            for size in (1, 3, 1000):
                by_sqlite = all_pages(partial(find_page, sqlite, flt), size)
                by_mongo = all_pages(partial(find_page, mongo, flt), size)
                assert by_sqlite == evaluated, (flt.document, size)
                assert by_mongo == by_sqlite, (flt.document, size)
        lookups: list[tuple[Lookup, str, list[str]]] = [
            (Lookup.TYPE, "find_by_type", [*TYPES, "none"]),
            (Lookup.SUB_TYPE, "find_by_sub_type", SUB_TYPES),
            (Lookup.TAG, "find_by_tag", TAGS),
            (Lookup.API_ROUTE, "find_by_api_route", [*ROUTES, "//see"]),
        ]
        for lookup, method, lookup_values in lookups:
            for value in lookup_values:
                evaluated = expected_ids(documents, lookup_filter(lookup, value))
                for size in (1, 3, 1000):
                    by_sqlite = all_pages(partial(lookup_page, getattr(sqlite, method), value), size)
                    by_mongo = all_pages(partial(lookup_page, getattr(mongo, method), value), size)
                    assert by_sqlite == evaluated, (lookup, value, size)
                    assert by_mongo == by_sqlite, (lookup, value, size)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents=document_sets(), filter_documents=st.lists(as_secantusdb_answers(filters), min_size=1, max_size=4))
def test_mongodb_and_sqlite_agree_on_searches_and_lookups(
    mongo: MongoMetadataStore, documents: list[dict[str, Any]], filter_documents: list[dict[str, Any]]
) -> None:
    compare_stores(mongo, documents, [compile_filter(f) for f in filter_documents])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    documents=mixed_document_sets(),
    filter_documents=st.lists(as_secantusdb_answers(mixed_filters), min_size=1, max_size=4),
)
def test_mongodb_and_sqlite_agree_on_values_of_every_type(
    mongo: MongoMetadataStore, documents: list[dict[str, Any]], filter_documents: list[dict[str, Any]]
) -> None:
    compare_stores(mongo, documents, [compile_filter(f) for f in filter_documents])
