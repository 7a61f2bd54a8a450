"""Bundles: archives ingested as assets, and assets exported as ZIP streams.

The use cases (``use_cases.Bundles``) stage an upload, run its job and export an asset. The
modules below them, in the order an upload meets them:

- ``keys``: where every blob of the subsystem lives;
- ``early_unpack``: a ZIP upload's members stored while it streams in;
- ``staged_archive``: the staged archive as a seekable file, its holes filled;
- ``archive`` and ``zip_archive``: the seam where the members of an archive come from;
- ``rules``: what a bundle may contain, checked from the archive's index;
- ``attempts`` and ``ingest``: one attempt at turning the archive into a registered asset;
- ``documents``: ``asset.json`` read, checked and completed with the stored files;
- ``export`` and ``frames``: the asset as a ZIP stream, its frames kept for the next download;
- ``errors``: what goes wrong, as domain errors.
"""

from assets_registry.core.bundles.errors import EmptyUpload, IncompleteAsset, UploadTooLarge
from assets_registry.core.bundles.export import BundleDownload
from assets_registry.core.bundles.rules import BundleLimits
from assets_registry.core.bundles.use_cases import Bundles, JobSettings

__all__ = [
    "BundleDownload",
    "BundleLimits",
    "Bundles",
    "EmptyUpload",
    "IncompleteAsset",
    "JobSettings",
    "UploadTooLarge",
]
