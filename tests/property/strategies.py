"""Generated assets, document sets and filters, and the checks built on them.

Not a test module: the property tests of the core (``test_properties``) and the MongoDB
differential tests import it.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from assets_registry.adapters.sqlite import SqliteMetadataStore
from assets_registry.core.filters import Filter
from assets_registry.core.lookups import Lookup, lookup_filter
from assets_registry.core.model import (
    Asset,
    AssetAPI,
    AssetFile,
    AssetPolicy,
    AssetProfile,
    IndexMapping,
    asset_from_document,
    asset_to_document,
)
from assets_registry.core.ports import MetadataStore, Page

# -- (a) valid asset documents -------------------------------------------------------------

_ID_CHARS = st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/")
ids = st.one_of(
    st.sampled_from(["asset-001", "profile-001", "é", "模型", "a b", "...", "x" * 256]),
    st.text(_ID_CHARS, min_size=1, max_size=12).filter(lambda s: s == s.strip() and s not in (".", "..")),
)
_FIELD_NAMES = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=6)
"""Object keys: anything but NUL, which no backend can store (``core.json_values`` refuses it)."""
_SEGMENT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/\\"), min_size=1, max_size=8
).filter(lambda s: s not in (".", ".."))
file_ids = st.lists(_SEGMENT, min_size=1, max_size=3).map("/".join)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(_FIELD_NAMES, children, max_size=3)),
    max_leaves=8,
)
json_objects = st.dictionaries(_FIELD_NAMES, json_values, max_size=3)
optional_objects = st.one_of(st.none(), json_objects)
optional_text = st.one_of(st.none(), st.text(max_size=12))
int64 = st.integers(-(2**63), 2**63 - 1)


def _fields(kind: type) -> list[str]:
    return [f.name for f in dataclasses.fields(kind)]


def _ordered(kind: type, values: dict[str, Any]) -> dict[str, Any]:
    """A complete document of ``kind``, its keys in the dataclass's order."""
    names = _fields(kind)
    assert set(values) == set(names)
    return {name: values[name] for name in names}


@st.composite
def profiles(draw: st.DrawFn, profile_id: str, parent: str) -> dict[str, Any]:
    return _ordered(
        AssetProfile,
        {
            "asset_profile_id": profile_id,
            "asset_type": draw(st.text(max_size=10)),
            "asset_sub_type": draw(st.text(max_size=10)),
            "asset_id": parent,
            "asset_metadata": draw(optional_objects),
            "asset_creator_info": draw(optional_objects),
            "asset_tags": draw(st.one_of(st.none(), st.lists(st.text(max_size=6), max_size=3))),
            "asset_description": draw(optional_text),
            "asset_complete_docs_url": draw(optional_text),
            "asset_man_page_url": draw(optional_text),
            "asset_sample_input_json": draw(optional_objects),
            "asset_sample_output_json": draw(optional_objects),
            "asset_sample_input_data_url": draw(optional_text),
            "asset_sample_output_data_url": draw(optional_text),
            "asset_author_metadata": draw(optional_objects),
        },
    )


@st.composite
def policies(draw: st.DrawFn, policy_id: str, parent: str) -> dict[str, Any]:
    return _ordered(
        AssetPolicy,
        {
            "asset_policy_id": policy_id,
            "asset_id": parent,
            "asset_policy_type": draw(st.text(max_size=10)),
            "asset_policy_rule_uri": draw(optional_text),
            "asset_policy_rule_config": draw(optional_objects),
            "asset_policy_rule_params": draw(optional_objects),
        },
    )


@st.composite
def files(draw: st.DrawFn, file_id: str) -> dict[str, Any]:
    return _ordered(
        AssetFile,
        {
            "asset_file_id": file_id,
            "asset_file_type": draw(st.text(max_size=10)),
            "asset_file_mime_type": draw(st.text(max_size=10)),
            "asset_file_url": draw(st.text(max_size=20)),
            "asset_file_metadata": draw(optional_objects),
        },
    )


@st.composite
def apis(draw: st.DrawFn, api_id: str, parent: str) -> dict[str, Any]:
    return _ordered(
        AssetAPI,
        {
            "asset_api_id": api_id,
            "asset_id": parent,
            "asset_api_metadata": draw(optional_objects),
            "asset_api_svc": draw(optional_text),
            "asset_api_route": draw(optional_text),
            "asset_api_protocol": draw(optional_text),
            "asset_protocol_specific_config": draw(optional_objects),
            "asset_api_man_page": draw(optional_text),
            "asset_api_swagger_doc": draw(optional_text),
            "asset_api_usage_samples": draw(st.one_of(st.none(), st.lists(json_objects, max_size=2))),
        },
    )


index_mappings = st.fixed_dictionaries(
    {
        "json_doc_id": st.text(max_size=8),
        "mapping_field_index": int64,
        "table_name": st.text(max_size=8),
        "field_name": st.text(max_size=8),
        "render_page_no": int64,
        "render_order_no": int64,
    }
).map(lambda d: _ordered(IndexMapping, d))


@st.composite
def asset_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A complete, valid asset document, as ``asset_to_document`` writes it."""
    parent = draw(ids)
    file_list = draw(st.lists(file_ids, unique=True, max_size=3))
    profile_ids = draw(st.lists(ids, unique=True, max_size=2))
    policy_ids = draw(st.lists(ids, unique=True, max_size=2))
    api_ids = draw(st.lists(ids, unique=True, max_size=2))
    return _ordered(
        Asset,
        {
            "asset_id": parent,
            "asset_uri": draw(st.text(max_size=20)),
            "asset_version": draw(st.text(max_size=8)),
            "asset_profile_id": draw(ids),
            "asset_file_ids": file_list,
            "asset_container_uri": draw(optional_text),
            "asset_policy_ids": draw(st.lists(ids, unique=True, max_size=2)),
            "asset_container_registry_creds_config": draw(optional_objects),
            "asset_workflow_id": draw(optional_text),
            "asset_api_ids": draw(st.lists(ids, unique=True, max_size=2)),
            "asset_brief_description": draw(optional_text),
            "profiles": [draw(profiles(p, parent)) for p in profile_ids],
            "policies": [draw(policies(p, parent)) for p in policy_ids],
            "files": [draw(files(f)) for f in draw(st.permutations(file_list))],
            "apis": [draw(apis(a, parent)) for a in api_ids],
            "index_mappings": draw(st.lists(index_mappings, max_size=2)),
        },
    )


_DEFAULTS: dict[type, dict[str, Any]] = {
    kind: {
        f.name: (f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default)
        for f in dataclasses.fields(kind)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    for kind in (Asset, AssetProfile, AssetPolicy, AssetFile, AssetAPI)
}
_NESTED = {"profiles": AssetProfile, "policies": AssetPolicy, "files": AssetFile, "apis": AssetAPI}


def _sparse(kind: type, document: dict[str, Any], drop: Callable[[str], bool]) -> dict[str, Any]:
    defaults = _DEFAULTS[kind]
    return {
        k: v
        for k, v in document.items()
        if not (k in defaults and defaults[k] == v and type(defaults[k]) is type(v) and drop(k))
    }


@st.composite
def sparse_forms(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with some default-valued fields and back-references left out, or nulled."""

    def drop(_: str) -> bool:
        return draw(st.booleans())

    sparse = _sparse(Asset, document, drop)
    for key, kind in _NESTED.items():
        if key not in sparse:
            continue
        items = []
        for item in sparse[key]:
            thinner = _sparse(kind, item, drop)
            if "asset_id" in thinner:
                back_reference = draw(st.sampled_from(["keep", "drop", "null"]))
                if back_reference == "drop":
                    del thinner["asset_id"]
                elif back_reference == "null":
                    thinner["asset_id"] = None
            items.append(thinner)
        sparse[key] = items
    return sparse


# -- (b) searches on the SQLite store ------------------------------------------------------

ID_POOL = ["a", "aa", "b", "B", "c-1", "z", "é", "模型", "a b", "😀"]
TYPES = ["model", "data", "tool"]
SUB_TYPES = ["llm", "table", "vision"]
TAGS = ["gen", "text", "image"]
ROUTES = ["api/v1/generate", "/api/v1/generate", "/see", "see"]
VERSIONS = ["v1", "v2", "V1"]
VALUES: list[Any] = [
    *TYPES,
    *SUB_TYPES,
    *TAGS,
    *ROUTES,
    *VERSIONS,
    "a",
    "é",
    "MODEL",
    "",
    0,
    1,
    2,
    1.0,
    True,
    False,
    None,
]
PATHS = [
    "asset_id",
    "asset_version",
    "profiles.asset_type",
    "profiles.asset_sub_type",
    "profiles.asset_tags",
    "apis.asset_api_route",
    "profiles.0.asset_type",
    "profiles.1.asset_tags",
    "index_mappings.render_page_no",
    "asset_brief_description",
]
PATTERNS = ["^mod", "^MOD", "gen", "^/", "e$", "^v[12]$", ".*", "^a", "é", "^$"]


@st.composite
def store_documents(draw: st.DrawFn, asset_id: str) -> dict[str, Any]:
    profile_count = draw(st.integers(0, 3))
    document = {
        "asset_id": asset_id,
        "asset_uri": f"models://example.com/{asset_id}",
        "asset_version": draw(st.sampled_from(VERSIONS)),
        "asset_profile_id": "p0",
        "asset_file_ids": [],
        "asset_brief_description": draw(st.one_of(st.none(), st.sampled_from(TYPES))),
        "profiles": [
            {
                "asset_profile_id": f"p{i}",
                "asset_type": draw(st.sampled_from(TYPES)),
                "asset_sub_type": draw(st.sampled_from(SUB_TYPES)),
                "asset_tags": draw(st.one_of(st.none(), st.lists(st.sampled_from(TAGS), max_size=3))),
            }
            for i in range(profile_count)
        ],
        "apis": [
            {"asset_api_id": f"api{i}", "asset_api_route": route}
            for i, route in enumerate(draw(st.lists(st.one_of(st.none(), st.sampled_from(ROUTES)), max_size=2)))
        ],
        "index_mappings": [
            {
                "json_doc_id": "d",
                "mapping_field_index": 0,
                "table_name": "t",
                "field_name": "f",
                "render_page_no": page,
                "render_order_no": 0,
            }
            for page in draw(st.lists(st.integers(0, 2), max_size=2))
        ],
    }
    return asset_to_document(asset_from_document(document))


@st.composite
def document_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    chosen = draw(st.lists(st.sampled_from(ID_POOL), unique=True, max_size=8))
    return [draw(store_documents(asset_id)) for asset_id in chosen]


values = st.sampled_from(VALUES)
scalars = st.sampled_from([v for v in VALUES if v is not None] + [None])
literals = st.one_of(values, st.lists(st.sampled_from(TAGS), max_size=2))


def operator_conditions(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    ranges = st.sampled_from(["$gt", "$gte", "$lt", "$lte"])
    return st.one_of(
        st.builds(lambda v: {"$eq": v}, literals),
        st.builds(lambda v: {"$ne": v}, literals),
        st.builds(lambda op, v: {op: v}, ranges, scalars),
        st.builds(lambda vs: {"$in": vs}, st.lists(literals, max_size=3)),
        st.builds(lambda vs: {"$in": vs}, st.lists(st.sampled_from([*TYPES, *TAGS, *ID_POOL]), min_size=1, max_size=3)),
        st.builds(lambda vs: {"$nin": vs}, st.lists(literals, max_size=3)),
        st.builds(lambda b: {"$exists": b}, st.booleans()),
        st.builds(lambda p: {"$regex": p}, st.sampled_from(PATTERNS)),
        st.builds(
            lambda p, o: {"$regex": p, "$options": o}, st.sampled_from(PATTERNS), st.sampled_from(["i", "m", "s", "is"])
        ),
        st.builds(lambda vs: {"$all": vs}, st.lists(st.sampled_from([*TAGS, *TYPES]), max_size=2)),
        st.builds(lambda n: {"$size": n}, st.integers(0, 3)),
        st.builds(
            lambda c: {"$elemMatch": c}, st.sampled_from([{"$eq": "gen"}, {"$in": ["text", "image"]}, {"$regex": "^g"}])
        ),
        st.builds(lambda c: {"$not": c}, inner),
        st.builds(lambda a, b: {**a, **b}, inner, inner),
    )


field_operators = st.recursive(st.builds(lambda v: {"$eq": v}, literals), operator_conditions, max_leaves=3)
elem_match_queries = st.one_of(
    st.builds(
        lambda key, cond: {"profiles": {"$elemMatch": {key: cond}}},
        st.sampled_from(["asset_type", "asset_sub_type", "asset_tags"]),
        st.one_of(values, field_operators),
    ),
    st.builds(
        lambda t, s: {"profiles": {"$elemMatch": {"asset_type": t, "asset_sub_type": s}}},
        st.sampled_from(TYPES),
        st.sampled_from(SUB_TYPES),
    ),
    st.builds(lambda n: {"profiles": {"$size": n}}, st.integers(0, 3)),
    st.builds(lambda n: {"apis": {"$size": n}}, st.integers(0, 2)),
)
field_queries = st.one_of(
    st.builds(lambda p, v: {p: v}, st.sampled_from(PATHS), literals),
    st.builds(lambda p, v: {p: v}, st.sampled_from(PATHS), field_operators),
    st.builds(lambda i: {"asset_id": i}, st.sampled_from(ID_POOL)),
    st.builds(lambda t: {"profiles.asset_type": t}, st.sampled_from(TYPES)),
    st.builds(lambda t: {"profiles.asset_tags": {"$all": t}}, st.lists(st.sampled_from(TAGS), min_size=1, max_size=2)),
    st.builds(
        lambda r: {"apis.asset_api_route": {"$in": r}}, st.lists(st.sampled_from(ROUTES), min_size=1, max_size=2)
    ),
    st.builds(lambda i: {"asset_id": {"$in": i}}, st.lists(st.sampled_from(ID_POOL), min_size=1, max_size=3)),
    elem_match_queries,
)


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in parts:
        merged.update(part)
    return merged


filters = st.recursive(
    field_queries,
    lambda children: st.one_of(
        st.builds(_merge, st.lists(children, min_size=1, max_size=3)),
        st.builds(
            lambda op, bs: {op: bs},
            st.sampled_from(["$and", "$or", "$nor"]),
            st.lists(children, min_size=1, max_size=3),
        ),
    ),
    max_leaves=6,
)


def all_pages(fetch: Callable[[int, str | None], Page], limit: int) -> list[str]:
    found: list[str] = []
    after: str | None = None
    for _ in range(1000):
        page = fetch(limit, after)
        assert len(page.documents) <= limit
        found += [d["asset_id"] for d in page.documents]
        if page.next_after is None:
            return found
        assert page.documents, "a page promising more must not be empty"
        assert page.next_after == page.documents[-1]["asset_id"]
        after = page.next_after
    raise AssertionError("paging never ended")


@contextmanager
def sqlite_store() -> Iterator[SqliteMetadataStore]:
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteMetadataStore(Path(folder) / "registry.db")
        try:
            yield store
        finally:
            store.close()


def expected_ids(documents: list[dict[str, Any]], flt: Filter) -> list[str]:
    return [d["asset_id"] for d in sorted(documents, key=lambda d: d["asset_id"]) if flt.matches(d)]


PAGE_SIZES = (1, 2, 3, 1000)


def find_page(store: MetadataStore, flt: Filter, limit: int, after: str | None) -> Page:
    return store.find(flt, limit, after)


def lookup_page(finder: Callable[[str, int, str | None], Page], value: str, limit: int, after: str | None) -> Page:
    return finder(value, limit, after)


def check_store_answers(store: MetadataStore, documents: list[dict[str, Any]], flts: list[Filter]) -> None:
    for flt in flts:
        expected = expected_ids(documents, flt)
        for size in PAGE_SIZES:
            assert all_pages(partial(find_page, store, flt), size) == expected, flt.document
    finders: list[tuple[Lookup, Callable[[str, int, str | None], Page], list[str]]] = [
        (Lookup.TYPE, store.find_by_type, [*TYPES, "none"]),
        (Lookup.SUB_TYPE, store.find_by_sub_type, SUB_TYPES),
        (Lookup.TAG, store.find_by_tag, TAGS),
        (Lookup.API_ROUTE, store.find_by_api_route, [*ROUTES, "//see", "nowhere"]),
    ]
    for lookup, finder, lookup_values in finders:
        for value in lookup_values:
            flt = lookup_filter(lookup, value)
            expected = expected_ids(documents, flt)
            for size in (1, 3, 1000):
                assert all_pages(partial(lookup_page, finder, value), size) == expected
                assert all_pages(partial(find_page, store, flt), size) == expected
