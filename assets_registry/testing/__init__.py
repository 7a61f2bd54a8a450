"""Test kit for the registry and for plugin authors (needs pytest).

- **Contract suites**, one per port: subclass ``BlobStoreContract``, ``MetadataStoreContract``
  or ``JobTrackerContract``, provide your adapter as a fixture, and it is checked exactly as
  the built-in adapters are (see ``docs/plugins.md``).
- **In-memory fakes** of the ports (``MemoryBlobStore``, ``MemoryMetadataStore``,
  ``MemoryJobTracker``) for fast tests of code that uses them; never the proof an adapter works.
- **Bundles**: ``bundle_zip``, ``build_zip``, ``write_bundle``, ``upload_form`` build ZIP
  bundles and the upload form that carries them.
- **Plugins in isolation**: ``isolated_plugins(("name", plugin))`` loads only your plugin, no
  entry points, as the registry would load it.
- **HTTP in-process**: ``http_client(services)`` over ``create_app``; ``upload_bundle``,
  ``assert_problem``.
"""

from __future__ import annotations

from assets_registry.plugins.manager import Plugins
from assets_registry.testing.blob_contract import BlobStoreContract
from assets_registry.testing.bundles import (
    MANIFEST,
    Member,
    asset_json,
    build_zip,
    bundle_asset,
    bundle_members,
    bundle_zip,
    multipart_form,
    upload_form,
    write_bundle,
    write_zip,
)
from assets_registry.testing.documents import asset_document
from assets_registry.testing.http import assert_problem, http_client, upload_bundle
from assets_registry.testing.jobs_contract import JobTrackerContract
from assets_registry.testing.memory import MemoryBlobStore, MemoryJobTracker, MemoryMetadataStore
from assets_registry.testing.metadata_contract import MetadataStoreContract


def isolated_plugins(*plugins: tuple[str, object]) -> Plugins:
    """A plugin manager holding only these ``(name, plugin)`` pairs: no entry points are read."""
    return Plugins.isolated(*plugins)


__all__ = [
    "MANIFEST",
    "BlobStoreContract",
    "JobTrackerContract",
    "Member",
    "MemoryBlobStore",
    "MemoryJobTracker",
    "MemoryMetadataStore",
    "MetadataStoreContract",
    "assert_problem",
    "asset_document",
    "asset_json",
    "build_zip",
    "bundle_asset",
    "bundle_members",
    "bundle_zip",
    "http_client",
    "isolated_plugins",
    "multipart_form",
    "upload_bundle",
    "upload_form",
    "write_bundle",
    "write_zip",
]
