"""The seed's request bodies, verbatim (``../shared/seeds/001_*.txt``)."""

from typing import Any

SEED_ASSET: dict[str, Any] = {
    "asset_id": "asset-001",
    "asset_uri": "models://example.com/asset-001",
    "asset_version": "v1",
    "asset_profile_id": "profile-001",
    "asset_file_ids": [],
    "profiles": [{
        "asset_profile_id": "profile-001",
        "asset_type": "model",
        "asset_sub_type": "llm",
        "asset_id": "asset-001",
    }],
    "policies": [],
    "files": [],
    "apis": [],
    "index_mappings": [],
}  # fmt: skip

SEED_UPDATE = {"asset_brief_description": "Updated description"}

SEED_SEARCH = {"asset_version": "v1", "profiles.asset_type": "model"}

SEED_GRAPHQL_BY_ID = """
query {
  getAssetById(assetId: "asset-001") {
    assetId
    assetUri
    assetVersion
    assetBriefDescription
  }
}
"""

SEED_GRAPHQL_BY_TYPE = """
query {
  getAssetsByType(assetType: "model") {
    assetId
    assetUri
    profiles
  }
}
"""

SEED_GRAPHQL_SEARCH_AS_WRITTEN = """
query {
  searchAssets(filters: { "profiles.asset_sub_type": "llm" }) {
    assetId
    assetUri
    assetVersion
  }
}
"""
