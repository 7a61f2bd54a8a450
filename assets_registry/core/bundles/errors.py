"""The errors of the bundle subsystem.

Those a client sees are ``core.errors`` kinds (``InvalidInput``, ``TooLarge``, ``Conflict``),
so the HTTP layer maps them with every other domain error without knowing this package.
The rest never leave it: ``BundleRejected`` becomes a job's ``failed: <reason>``, and the
others are signals between its modules.
"""

from __future__ import annotations

from assets_registry.core.errors import Conflict, InvalidInput, TooLarge


class UploadTooLarge(TooLarge):
    code = "upload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The upload is larger than {limit} bytes, the most this server accepts.")


class EmptyUpload(InvalidInput):
    code = "empty_upload"

    def __init__(self) -> None:
        super().__init__("The uploaded file is empty; send a ZIP archive in the 'file' field.")


class IncompleteAsset(Conflict):
    """The asset's metadata names a file the blob store cannot give back whole."""

    code = "incomplete_asset"

    def __init__(self, asset_id: str, problem: str) -> None:
        super().__init__(f"The asset {asset_id!r} cannot be downloaded: {problem}.")


class BundleRejected(Exception):
    """The bundle breaks a rule; ``reason`` becomes the job's ``failed: <reason>``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ArchiveDamaged(Exception):
    """An archive's bytes cannot be read as its format says (raised by ``archive.Archive``)."""


class LeaseLost(Exception):
    """Another worker took the job over (this one was too slow to renew); stop touching it."""


class FramesDamaged(Exception):
    """A frames blob whose frames do not match its checksum."""


class MemberChanged(Exception):
    """A file's bytes in the blob store are not those recorded at ingest (size or CRC-32)."""
