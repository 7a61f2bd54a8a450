"""ZIP bundles for tests: an ``asset.json`` and member files, built in memory or on disk.

Every test that needs a bundle builds it here, so a change to what a bundle is (a second
archive format, a new manifest field) is made once. ``upload_form`` wraps a bundle in the
``multipart/form-data`` body that ``POST /zip/upload`` reads.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

Member = tuple[str | zipfile.ZipInfo, bytes]
"""One archive member: its name (or a ``ZipInfo`` for odd attributes) and its bytes."""
MANIFEST = "asset.json"


def bundle_asset(asset_id: str = "zip-1", *, profile_id: str = "p1", **fields: Any) -> dict[str, Any]:
    """A valid manifest document: one ``model``/``llm`` profile, no files listed; ``fields`` override."""
    return {
        "asset_id": asset_id,
        "asset_uri": f"models://example.com/{asset_id}",
        "asset_version": "v1",
        "asset_profile_id": profile_id,
        "asset_file_ids": [],
        "profiles": [{"asset_profile_id": profile_id, "asset_type": "model", "asset_sub_type": "llm"}],
        **fields,
    }


def asset_json(asset_id: str = "zip-1", **fields: Any) -> bytes:
    """``bundle_asset`` as the bytes of an ``asset.json`` member."""
    return json.dumps(bundle_asset(asset_id, **fields)).encode()


def build_zip(members: Iterable[Member], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """An archive of exactly these members, in this order (hostile names and duplicates included)."""
    buffer = io.BytesIO()
    write_zip(buffer, members, compression)
    return buffer.getvalue()


def write_zip(target: Path | IO[bytes], members: Iterable[Member], compression: int = zipfile.ZIP_DEFLATED) -> None:
    """``build_zip`` into a file (or a path) instead of memory, for bundles too large to hold."""
    with zipfile.ZipFile(target, "w", compression) as archive:
        for name, data in members:
            archive.writestr(name, data)


def bundle_members(
    asset: Mapping[str, Any] | str = "zip-1", files: Mapping[str, bytes] | None = None, *, folder: str = ""
) -> list[Member]:
    """``asset.json`` (a document, or an asset id for ``bundle_asset``) then ``files``, all under ``folder``."""
    document = bundle_asset(asset) if isinstance(asset, str) else asset
    members: list[Member] = [(folder + MANIFEST, json.dumps(document).encode())]
    members.extend((folder + name, data) for name, data in (files or {}).items())
    return members


def bundle_zip(
    asset: Mapping[str, Any] | str = "zip-1",
    files: Mapping[str, bytes] | None = None,
    *,
    folder: str = "",
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """A bundle in memory: ``asset.json`` and ``files`` (see ``bundle_members``)."""
    return build_zip(bundle_members(asset, files, folder=folder), compression)


def write_bundle(
    target: Path | IO[bytes],
    asset: Mapping[str, Any] | str = "zip-1",
    files: Mapping[str, bytes] | None = None,
    *,
    folder: str = "",
    compression: int = zipfile.ZIP_DEFLATED,
) -> None:
    """``bundle_zip`` into a file or a path."""
    write_zip(target, bundle_members(asset, files, folder=folder), compression)


def multipart_form(
    fields: Mapping[str, tuple[str, bytes]], content_type: str = "application/zip"
) -> tuple[bytes, dict[str, str]]:
    """A ``multipart/form-data`` body of file fields (name -> (filename, bytes)) and its headers."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, (filename, data) in fields.items()
    ]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload_form(bundle: bytes, field: str = "file", filename: str = "bundle.zip") -> tuple[bytes, dict[str, str]]:
    """The body and headers of ``POST /zip/upload`` carrying ``bundle`` (as ``curl -F file=@bundle.zip``)."""
    return multipart_form({field: (filename, bundle)})
