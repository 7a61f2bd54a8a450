"""Turning one staged ZIP bundle into a registered asset: one attempt of one upload job.

The attempt reads the archive through the blob store (``BlobFile``), checks it
(``bundle_rules``), validates ``asset.json`` completed with placeholder file entries (so a
typo fails before gigabytes are copied), streams each member into the blob store while it
is hashed, then registers the asset through ``Registry.create`` like ``POST /assets``.
Members that ``bundle_early_unpack`` already stored while the upload streamed in are taken
as they are when the stream matched the central directory, not copied again.

Blob keys are ``assets/<upload_id>/<member name>``: unique to the upload, so two uploads racing for
one ``asset_id`` never touch each other's blobs, and cleaning up after a failure can delete
every key of the upload without harming anything else. The keys are also deterministic,
so a re-run after a crash overwrites what the crashed attempt wrote, and recognises an
asset that the crashed attempt already registered as its own.
"""

from __future__ import annotations

import mimetypes
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from assets_registry.core.blob_file import BlobFile, Hole
from assets_registry.core.bundle_early_unpack import EarlyManifest, EarlyMember, file_key, manifest_key
from assets_registry.core.bundle_rules import (
    ASSET_JSON,
    BundleLimits,
    BundleMember,
    BundlePlan,
    BundleRejected,
    plan_bundle,
)
from assets_registry.core.errors import (
    AssetExists,
    AssetNotFound,
    BlobNotFound,
    InvalidAsset,
    InvalidInput,
    MalformedJSON,
)
from assets_registry.core.identifiers import id_problem
from assets_registry.core.json_values import parse_json
from assets_registry.core.model import asset_to_document
from assets_registry.core.ports import BlobInfo, BlobStore, Document, JobTracker, UploadJob
from assets_registry.core.registry import Registry

READ_CHUNK = 1 << 20
DAMAGED = (zipfile.BadZipFile, EOFError, ValueError, OSError, NotImplementedError)
"""What ``zipfile`` raises on damaged data (zlib, bz2 and lzma errors are OSError or ValueError)."""

_MIME = mimetypes.MimeTypes(filenames=())  # the built-in table only: the same answer on every host


class LeaseLost(Exception):
    """Another worker took the job over (this one was too slow to renew); stop touching it."""


@dataclass
class Attempt:
    """One worker's attempt at one job, renewing the job's lease as bytes flow."""

    job: UploadJob
    worker: str
    jobs: JobTracker
    lease_seconds: float
    asset_id: str | None = None
    plan: BundlePlan | None = None
    early: EarlyManifest | None = None
    stored_keys: list[str] | None = None
    bytes_done: int = 0
    files_done: int = 0
    _renewed_at: float = field(default_factory=time.monotonic)

    def progress(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "bytes_done": self.bytes_done,
            "bytes_total": plan.unpacked_bytes if plan else None,
            "files_done": self.files_done,
            "files_total": len(plan.members) if plan else None,
        }

    def heartbeat(self, force: bool = False) -> None:
        if force or time.monotonic() - self._renewed_at > self.lease_seconds / 4:
            if not self.jobs.renew(self.job.upload_id, self.worker, self.lease_seconds, self.progress()):
                raise LeaseLost(self.job.upload_id)
            self._renewed_at = time.monotonic()

    def chunks(self, source: IO[bytes]) -> Iterator[bytes]:
        while chunk := source.read(READ_CHUNK):
            self.bytes_done += len(chunk)
            self.heartbeat()
            yield chunk

    def member_keys(self) -> list[str]:
        """Every blob this upload may have written: the members', and those stored early."""
        if self.stored_keys is not None:
            return self.stored_keys
        keys = [member_key(self.job.upload_id, m) for m in self.plan.members] if self.plan else []
        known = set(keys)
        return keys + [k for k in (self.early.keys() if self.early else []) if k not in known]

    def forget_archive(self) -> None:
        """Keep only the keys the upload wrote: the archive's directory (a ZipInfo per member)
        and the early manifest can go."""
        self.stored_keys = self.member_keys()
        self.plan = None
        self.early = None


@dataclass(frozen=True)
class BundleIngest:
    registry: Registry
    blobs: BlobStore
    limits: BundleLimits

    def run(self, attempt: Attempt) -> str:
        """Register the bundle's asset and return its id; raise ``BundleRejected`` with the reason."""
        completed = self._store(attempt)
        asset_id = str(completed["asset_id"])
        if attempt.stored_keys is None:
            return asset_id  # an earlier attempt registered it
        try:
            self.registry.create(completed)
        except AssetExists:
            raise BundleRejected(f"asset {asset_id} already exists") from None
        except InvalidAsset as exc:
            raise BundleRejected(f"asset.json is invalid: {exc.errors[0] if exc.errors else exc.message}") from None
        return asset_id

    def _store(self, attempt: Attempt) -> Document:
        """Check the archive and store its members; return the completed asset document.

        Returns with the archive's directory and the early manifest already let go (a job of
        10,000 members holds ~15 MB of them), before registering builds its own copies.
        """
        early = attempt.early = self.read_early(attempt.job.staged_key)
        with self.open_archive(attempt.job.staged_key, early) as (archive, size):
            plan = attempt.plan = plan_bundle(archive, size, self.limits)
            document = self.read_asset_json(archive, plan)
            attempt.asset_id = str(document["asset_id"])
            attempt.heartbeat(force=True)
            if self.registered_by(attempt, document):
                return document
            self._validate(_completed(document, plan, placeholder_files(plan)))
            stored = self._store_members(attempt, archive, _usable(early, archive, plan))
            completed = _completed(document, plan, stored)
        taken = {member_key(attempt.job.upload_id, m) for m in plan.members}
        self._delete([k for k in (early.keys() if early else []) if k not in taken])
        attempt.forget_archive()
        return completed

    def open_archive(self, key: str, early: EarlyManifest | None) -> _OpenArchive:
        """The staged archive, its holes filled from the blobs of members stored early."""
        if early is not None and (reason := early.unreadable()):
            raise BundleRejected(reason)
        return _OpenArchive(self.blobs, key, early.holes if early else ())

    def read_early(self, staged_key: str) -> EarlyManifest | None:
        """The members stored while the archive was uploaded, if any were."""
        try:
            return EarlyManifest.from_json(b"".join(self.blobs.read(manifest_key(staged_key))))
        except BlobNotFound:
            return None
        except (ValueError, KeyError, TypeError):  # torn by a crash: the job copies every member
            return None

    def _delete(self, keys: list[str]) -> None:
        for key in keys:
            self.blobs.delete(key)

    def read_asset_json(self, archive: zipfile.ZipFile, plan: BundlePlan) -> Document:
        try:
            data = archive.read(plan.asset_json)
        except DAMAGED as exc:
            raise BundleRejected(f"{ASSET_JSON} is damaged ({exc})") from None
        try:
            document = parse_json(data)
        except MalformedJSON as exc:
            raise BundleRejected(
                f"{ASSET_JSON} is not valid JSON: {exc.message.removeprefix('The body is ')}"
            ) from None
        if not isinstance(document, dict):
            raise BundleRejected(f"{ASSET_JSON} must hold a JSON object")
        asset_id = document.get("asset_id")
        if not isinstance(asset_id, str):
            raise BundleRejected(f"{ASSET_JSON} has no asset_id string")
        problem = id_problem(asset_id)
        if problem:
            raise BundleRejected(f"{ASSET_JSON}: asset_id {asset_id!r} {problem}")
        _check_listed_files(document, plan)
        return document

    def registered_by(self, attempt: Attempt, document: Document) -> bool:
        """Is the asset already there because an earlier attempt of this job registered it?

        Raise ``BundleRejected`` if it is there but belongs to someone else.
        """
        try:
            existing = self.registry.get(document["asset_id"]).document
        except AssetNotFound:
            return False
        if attempt.job.attempts <= 1:  # no earlier attempt: whoever registered it, it was not us
            raise BundleRejected(f"asset {document['asset_id']} already exists")
        plan = attempt.plan
        assert plan is not None
        if plan.members:
            ours = {member_key(attempt.job.upload_id, m) for m in plan.members}
            keys = {self.blobs.key_for_url(f.get("asset_file_url", "")) for f in existing.get("files", [])}
            if keys == ours:
                return True
        else:
            try:
                if existing == asset_to_document(self.registry.validate(_completed(document, plan, {}))):
                    return True
            except InvalidAsset:
                pass
        raise BundleRejected(f"asset {document['asset_id']} already exists")

    def _validate(self, document: Document) -> None:
        try:
            self.registry.validate(document)
        except InvalidAsset as exc:
            raise BundleRejected(f"asset.json is invalid: {exc.errors[0] if exc.errors else exc.message}") from None

    def _store_members(
        self, attempt: Attempt, archive: zipfile.ZipFile, early: dict[str, EarlyMember]
    ) -> dict[str, tuple[BlobInfo, int, str]]:
        assert attempt.plan is not None
        stored: dict[str, tuple[BlobInfo, int, str]] = {}
        for member in attempt.plan.members:
            key = member_key(attempt.job.upload_id, member)
            head_start = early.get(member.info.orig_filename)
            if head_start is not None:
                stored[member.path] = (head_start.blob(), member.info.CRC, _modified(member.info))
                attempt.bytes_done += member.size
                attempt.files_done += 1
                attempt.heartbeat()
                continue
            try:
                with archive.open(member.info) as source:
                    info = self.blobs.put(key, attempt.chunks(source))
            except DAMAGED as exc:
                raise BundleRejected(f"member {member.info.orig_filename} is damaged ({exc})") from None
            except InvalidInput as exc:
                raise BundleRejected(f"member {member.info.orig_filename} cannot be stored: {exc.message}") from None
            stored[member.path] = (info, member.info.CRC, _modified(member.info))
            attempt.files_done += 1
        attempt.heartbeat(force=True)
        return stored


def member_key(upload_id: str, member: BundleMember) -> str:
    return file_key(upload_id, member.info.orig_filename)


def _usable(early: EarlyManifest | None, archive: zipfile.ZipFile, plan: BundlePlan) -> dict[str, EarlyMember]:
    """Members stored early, by name, if the stream held the central directory's entries.

    Local headers can say other things than the central directory (a trick to show two
    different archives to two different readers); the job follows the directory, so an early
    member is taken only if the stream listed the directory's entries in the directory's order
    (up to where early unpacking stopped), with the directory's size and CRC-32.

    A member whose bytes were left out of the staged copy (a hole) and that is not taken
    would have to be copied out of its own blob into that same blob: such an archive, whose
    local entries disagree with its directory, is refused instead.
    """
    if early is None:
        return {}
    in_order = [i.orig_filename for i in sorted(archive.infolist(), key=lambda i: i.header_offset)]
    listed = in_order[: len(early.names)] == early.names
    wanted = {m.info.orig_filename: m for m in plan.members}
    usable = {
        m.name: m
        for m in early.members
        if listed and (member := wanted.get(m.name)) is not None and (m.size, m.crc32) == (member.size, member.info.CRC)
    }
    names = {m.key: m.name for m in early.members}
    for key in {h.key for h in early.holes}:
        if names.get(key) not in usable:
            raise BundleRejected(
                f"member {names.get(key, key)}: the archive's local entries disagree with its central directory "
                "(it is damaged, or made to show different files to different tools); create it again"
            )
    return usable


class _OpenArchive:
    """``with`` the staged archive opened through the blob store: ``(ZipFile, size)``."""

    def __init__(self, blobs: BlobStore, key: str, holes: Sequence[Hole]) -> None:
        self.raw = BlobFile(blobs, key, holes=holes)
        self.archive: zipfile.ZipFile | None = None

    def __enter__(self) -> tuple[zipfile.ZipFile, int]:
        try:
            self.archive = zipfile.ZipFile(self.raw)
        except DAMAGED as exc:
            self.raw.close()
            raise BundleRejected(f"the upload is not a readable ZIP archive ({exc})") from None
        return self.archive, self.raw.size

    def __exit__(self, *exc: object) -> None:
        if self.archive is not None:
            self.archive.close()
        self.raw.close()


def _check_listed_files(document: Document, plan: BundlePlan) -> None:
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


def placeholder_files(plan: BundlePlan) -> dict[str, tuple[BlobInfo, int, str]]:
    """What storing the members will yield, minus the digests: enough to validate early."""
    return {
        m.path: (BlobInfo(m.path, f"pending:{m.path}", m.size, "0" * 64), m.info.CRC, _modified(m.info))
        for m in plan.members
    }


def _completed(document: Document, plan: BundlePlan, stored: dict[str, tuple[BlobInfo, int, str]]) -> Document:
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


def _modified(info: zipfile.ZipInfo) -> str:
    try:
        return datetime(*info.date_time).isoformat()
    except ValueError:  # archivers write zero dates; keep the ZIP epoch instead
        return datetime(1980, 1, 1).isoformat()
