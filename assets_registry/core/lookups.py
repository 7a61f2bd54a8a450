"""The five lookups of the seed's query API, defined as filters.

``GET /query/by-type/model`` means the same as searching ``{"profiles.asset_type": "model"}``;
adapters answer lookups from indexes, and the contract suite checks that they agree with
``find`` on these filters. API routes are matched with and without a leading ``/``, because
``/query/by-api-route/api/v1/generate`` cannot carry the slash of ``/api/v1/generate``.
"""

from __future__ import annotations

from enum import Enum

from assets_registry.core.filters import Filter, compile_filter


class Lookup(Enum):
    """Each lookup and the document path it reads."""

    TYPE = "profiles.asset_type"
    SUB_TYPE = "profiles.asset_sub_type"
    TAG = "profiles.asset_tags"
    API_ROUTE = "apis.asset_api_route"

    @property
    def path(self) -> str:
        return self.value


def lookup_values(lookup: Lookup, value: str) -> list[str]:
    """The stored values a lookup for ``value`` matches."""
    if lookup is Lookup.API_ROUTE:
        bare = value.lstrip("/")
        return [bare, "/" + bare]
    return [value]


def lookup_query(lookup: Lookup, value: str) -> dict[str, object]:
    """The filter document whose answer the lookup must give."""
    return {lookup.path: {"$in": lookup_values(lookup, value)}}


def lookup_filter(lookup: Lookup, value: str) -> Filter:
    """The filter whose answer the lookup must give, compiled."""
    return compile_filter(lookup_query(lookup, value))
