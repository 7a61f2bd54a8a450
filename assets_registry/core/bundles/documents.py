"""A bundle's ``asset.json``: read and checked against the archive, then completed with its files.

The document a bundle carries describes some of its files or none; the registered asset
describes every one (``files[]`` and ``asset_file_ids``), with the URL, size, SHA-256,
CRC-32 and date that storing it yielded. ``completed`` is the one place that writes them,
for the early validation (``placeholder_files``: so a typo fails before gigabytes are
copied) as for the asset registered.
"""

from __future__ import annotations

import mimetypes

from assets_registry.core.bundles.archive import Archive
from assets_registry.core.bundles.errors import ArchiveDamaged, BundleRejected
from assets_registry.core.bundles.rules import ASSET_JSON, BundlePlan
from assets_registry.core.errors import MalformedJSON
from assets_registry.core.identifiers import id_problem
from assets_registry.core.json_values import parse_json
from assets_registry.core.ports import BlobInfo, Document

StoredFile = tuple[BlobInfo, int, str]
"""What storing a member yielded: its blob, its CRC-32 and its modification date."""

_MIME = mimetypes.MimeTypes(filenames=())  # the built-in table only: the same answer on every host


def read_asset_json(archive: Archive, plan: BundlePlan) -> Document:
    """The bundle's ``asset.json``, checked as far as the archive alone can tell."""
    assert plan.asset_json is not None  # bundles always have one (plan_bundle)
    try:
        data = archive.read(plan.asset_json)
    except ArchiveDamaged as exc:
        raise BundleRejected(f"{ASSET_JSON} is damaged ({exc})") from None
    try:
        document = parse_json(data)
    except MalformedJSON as exc:
        what = (
            exc.message.removeprefix("The body ")
            if exc.message.startswith("The body ")
            else f"is not usable: {exc.message}"
        )
        raise BundleRejected(f"{ASSET_JSON} {what}") from None
    if not isinstance(document, dict):
        raise BundleRejected(f"{ASSET_JSON} must hold a JSON object")
    asset_id = document.get("asset_id")
    if not isinstance(asset_id, str):
        raise BundleRejected(f"{ASSET_JSON} has no asset_id string")
    problem = id_problem(asset_id)
    if problem:
        raise BundleRejected(f"{ASSET_JSON}: asset_id {asset_id!r} {problem}")
    check_listed_files(document, plan)
    return document


def check_listed_files(document: Document, plan: BundlePlan) -> None:
    """Every file asset.json names must be in the archive (a typo would register a broken asset)."""
    paths = {m.path for m in plan.members}
    files = document.get("files") or []
    if not isinstance(files, list):
        raise BundleRejected(f"{ASSET_JSON}: files must be a list")
    described: set[str] = set()
    for i, entry in enumerate(files):
        file_id = entry.get("asset_file_id") if isinstance(entry, dict) else None
        if not isinstance(file_id, str):
            raise BundleRejected(f"{ASSET_JSON}: files[{i}] needs an asset_file_id string")
        if file_id in described:
            raise BundleRejected(f"{ASSET_JSON}: files[{i}] {file_id} is described twice")
        described.add(file_id)
        if file_id not in paths:
            raise BundleRejected(f"files[{i}] {file_id} is not in the archive")
        if not isinstance(entry.get("asset_file_metadata") or {}, dict):
            raise BundleRejected(f"{ASSET_JSON}: files[{i}].asset_file_metadata must be an object")
    listed = document.get("asset_file_ids") or []
    if not isinstance(listed, list):
        raise BundleRejected(f"{ASSET_JSON}: asset_file_ids must be a list")
    for i, file_id in enumerate(listed):
        if file_id not in paths:
            raise BundleRejected(f"asset_file_ids[{i}] {file_id} is not in the archive")


def placeholder_files(plan: BundlePlan) -> dict[str, StoredFile]:
    """What storing the members will yield, minus the digests: enough to validate early."""
    return {
        m.path: (BlobInfo(m.path, f"pending:{m.path}", m.size, "0" * 64), m.entry.crc32 or 0, m.entry.modified)
        for m in plan.members
    }


def completed(document: Document, plan: BundlePlan, stored: dict[str, StoredFile]) -> Document:
    """asset.json with every member described in ``files[]`` and listed in ``asset_file_ids``."""
    described = {f["asset_file_id"]: f for f in document.get("files") or []}
    archive_order = [m.path for m in plan.members]
    order = list(described) + [p for p in archive_order if p not in described]
    files = []
    for path in order:
        entry = dict(described.get(path) or {"asset_file_id": path})
        entry.setdefault("asset_file_type", "file")
        entry.setdefault("asset_file_mime_type", _MIME.guess_type(path)[0] or "application/octet-stream")
        if path in stored:
            info, crc, modified = stored[path]
            entry["asset_file_url"] = info.url
            facts = {"size": info.size, "sha256": info.sha256, "crc32": crc, "modified": modified}
            entry["asset_file_metadata"] = {**(entry.get("asset_file_metadata") or {}), **facts}
        files.append(entry)
    listed = [i for i in document.get("asset_file_ids") or [] if isinstance(i, str)]
    ids = listed + [p for p in order if p not in listed]
    return {**document, "files": files, "asset_file_ids": ids}
