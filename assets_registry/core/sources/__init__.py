"""The Asset Store of seed 000: buckets, assets declared by their source URL, imported by workers.

``asset_store`` keeps the declarations (``CatalogStore``) and leases sources to workers;
``imports`` runs one import in the Asset Store's order; ``packages`` turns a URL's bytes
into stored files; ``reasons`` is the one list of reason codes; ``fetch`` the port for URLs.
"""

from __future__ import annotations

from assets_registry.core.sources.asset_store import AssetStore, BucketNotEmpty, LeaseLost
from assets_registry.core.sources.imports import SourceImports

__all__ = ["AssetStore", "BucketNotEmpty", "LeaseLost", "SourceImports"]
