"""Test kit for the registry and for plugin authors (needs pytest).

- **Contract suites**, one per port: subclass ``BlobStoreContract``, ``MetadataStoreContract``
  or ``JobTrackerContract``, provide your adapter as a fixture, and it is checked exactly as
  the built-in adapters are (see ``docs/plugins.md``).
- **In-memory fakes** of the ports (``MemoryBlobStore``, ``MemoryMetadataStore``,
  ``MemoryJobTracker``) for fast tests of code that uses them; never the proof an adapter works.
- **Bundles**: ``bundle_zip``, ``build_zip``, ``write_bundle``, ``upload_form`` build ZIP
  bundles and the upload form that carries them.
- **Plugins in isolation**: ``isolated_plugins(("name", plugin))`` loads only your plugin, no
  entry points, as the registry would load it; ``embedded_registry(tmp_path, ("name", plugin))``
  runs the whole registry on its embedded default with your plugin and nothing else installed.
- **Step contracts**: ``ValidatorContract``, ``FileValidatorContract``, ``MutatorContract``, ``ExtractorContract`` (with
  ``BytesContent``, a ``FileContent`` over bytes) check a plugin's steps through the registry's guards.
- **Webhook services**: ``testing.webhooks.ReferenceWebhooks`` serves Rafter's contract on loopback.
- **HTTP in-process**: ``http_client(services)`` over ``create_app``; ``upload_bundle``,
  ``assert_problem``.
"""

from __future__ import annotations

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
from assets_registry.testing.catalog_contract import CatalogStoreContract
from assets_registry.testing.documents import asset_document
from assets_registry.testing.http import assert_problem, http_client, upload_bundle
from assets_registry.testing.jobs_contract import JobTrackerContract
from assets_registry.testing.memory import MemoryBlobStore, MemoryJobTracker, MemoryMetadataStore
from assets_registry.testing.metadata_contract import MetadataStoreContract
from assets_registry.testing.plugins import embedded_registry, isolated_plugins
from assets_registry.testing.steps_contract import (
    BytesContent,
    ExtractorContract,
    FileValidatorContract,
    MutatorContract,
    ValidatorContract,
)

__all__ = [
    "MANIFEST",
    "BlobStoreContract",
    "BytesContent",
    "CatalogStoreContract",
    "ExtractorContract",
    "FileValidatorContract",
    "JobTrackerContract",
    "Member",
    "MemoryBlobStore",
    "MemoryJobTracker",
    "MemoryMetadataStore",
    "MetadataStoreContract",
    "MutatorContract",
    "ValidatorContract",
    "assert_problem",
    "asset_document",
    "asset_json",
    "build_zip",
    "bundle_asset",
    "bundle_members",
    "bundle_zip",
    "embedded_registry",
    "http_client",
    "isolated_plugins",
    "multipart_form",
    "upload_bundle",
    "upload_form",
    "write_bundle",
    "write_zip",
]
