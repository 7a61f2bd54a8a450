"""MongoDB query documents for the stored layout ``{"_id": asset_id, "revision": n, "doc": {...}}``.

Pure functions, no pymongo: the search filter a client wrote names fields of the asset
document, so its field paths gain the ``doc.`` prefix before it reaches the server; the page
condition and the lookups are written against ``_id``, which holds the asset id (the
collection's own unique index, so uniqueness and id order come for free).
"""

from __future__ import annotations

from typing import Any

from assets_registry.core.filters import LOGICAL_OPERATORS
from assets_registry.core.lookups import Lookup, lookup_values

DOCUMENT_FIELD = "doc"
"""Where the asset document lives in a stored record; user filters only ever see inside it."""

LOOKUP_INDEXES: dict[Lookup, list[tuple[str, int]]] = {
    lookup: [(f"{DOCUMENT_FIELD}.{lookup.path}", 1), ("_id", 1)] for lookup in Lookup
}
"""One compound index per lookup: equal values sit together, in ``_id`` order within each."""


def to_stored_paths(filter_document: dict[str, Any]) -> dict[str, Any]:
    """The filter with every field path it names moved under ``doc.``.

    Field keys are those at the top and in the branches of top-level ``$and``/``$or``/``$nor``
    (recursively). Conditions are copied untouched: paths inside ``$elemMatch`` are relative
    to the array element, and literal objects are values, not paths.
    """
    stored: dict[str, Any] = {}
    for key, condition in filter_document.items():
        if key in LOGICAL_OPERATORS:
            stored[key] = [to_stored_paths(branch) for branch in condition]
        else:
            stored[f"{DOCUMENT_FIELD}.{key}"] = condition
    return stored


def paged(query: dict[str, Any], after: str | None) -> dict[str, Any]:
    """``query`` restricted to ids after ``after`` (ids compare by code point, as BSON strings do).

    The ``_id`` condition is a sibling key rather than an ``$and`` around the query: the two
    mean the same (no translated key can be ``_id``, they all start with ``doc.`` or ``$``),
    and a flat query lets planners that do not flatten ``$and`` (SecantusDB) use an index.
    """
    if after is None:
        return query
    return {**query, "_id": {"$gt": after}}


def search_query(filter_document: dict[str, Any], after: str | None) -> dict[str, Any]:
    """The server query of a search page."""
    return paged(to_stored_paths(filter_document), after)


def lookup_query(lookup: Lookup, value: str, after: str | None) -> dict[str, Any]:
    """The server query of a lookup page: the same match as ``core.lookups.lookup_filter``."""
    path = f"{DOCUMENT_FIELD}.{lookup.path}"
    return paged({path: {"$in": lookup_values(lookup, value)}}, after)
