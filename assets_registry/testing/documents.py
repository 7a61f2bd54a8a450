"""Valid asset documents for tests, built through the model so they are stored as-is."""

from __future__ import annotations

from typing import Any

from assets_registry.core.model import asset_from_document, asset_to_document


def asset_document(
    asset_id: str,
    *,
    asset_type: str = "model",
    sub_type: str = "llm",
    tags: list[str] | None = None,
    routes: list[str] | None = None,
    version: str = "v1",
    **fields: Any,
) -> dict[str, Any]:
    """A complete, valid asset document with one profile and one API per route."""
    document: dict[str, Any] = {
        "asset_id": asset_id,
        "asset_uri": f"models://example.com/{asset_id}",
        "asset_version": version,
        "asset_profile_id": f"profile-{asset_id}",
        "asset_file_ids": [],
        "profiles": [
            {
                "asset_profile_id": f"profile-{asset_id}",
                "asset_type": asset_type,
                "asset_sub_type": sub_type,
                "asset_tags": list(tags or []),
            }
        ],
        "apis": [{"asset_api_id": f"api-{i}", "asset_api_route": r} for i, r in enumerate(routes or [])],
        **fields,
    }
    return asset_to_document(asset_from_document(document))
