"""Turning one staged archive into a registered asset: one attempt of one upload job.

The attempt opens the archive through the blob store (``open_archive``: the format behind
``archive.Archive``), checks its entries (``rules``), validates ``asset.json`` completed
with placeholder file entries (``documents``), streams each member into the blob store
while it is hashed, then registers the asset through ``Registry.create`` like
``POST /assets``. Members that ``early_unpack`` already stored while the upload streamed in
are taken as they are when the stream matched the archive's index, not copied again.

Blob keys (``keys``) are unique to the upload and the same on every attempt, so a re-run
after a crash overwrites what the crashed attempt wrote and recognises an asset that the
crashed attempt already registered as its own (``registered_by``). This module is the only
one that changes what an ``Attempt`` knows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence

import msgspec
from isal.isal_zlib import crc32

from assets_registry.core.bundles.archive import Archive, Entry
from assets_registry.core.bundles.attempts import Attempt
from assets_registry.core.bundles.describe import BatchDescriber, Describer, describe_files
from assets_registry.core.bundles.documents import (
    StoredFile,
    completed,
    placeholder_files,
    read_asset_json,
)
from assets_registry.core.bundles.early_unpack import EarlyManifest, EarlyMember
from assets_registry.core.bundles.errors import ArchiveDamaged, BundleRejected
from assets_registry.core.bundles.keys import ARCHIVE_SUFFIX, bucket_of, manifest_key, services_key, unmutated_key
from assets_registry.core.bundles.mutate import Reshaper, mutate_files
from assets_registry.core.bundles.rules import BundleLimits, BundleMember, BundlePlan, plan_bundle
from assets_registry.core.bundles.staged_archive import BlobFile
from assets_registry.core.bundles.steps import Checker, Service, StepCatalog, Steps, check_files
from assets_registry.core.bundles.zip_archive import ZipArchive
from assets_registry.core.errors import (
    AssetExists,
    AssetNotFound,
    BlobNotFound,
    InvalidAsset,
    InvalidInput,
    PluginFailed,
    StepRefused,
)
from assets_registry.core.model import asset_to_document
from assets_registry.core.ports import BlobStore, Document
from assets_registry.core.registry import Registry

ARCHIVE_FORMATS: dict[str, Callable[[BlobFile], Archive]] = {ARCHIVE_SUFFIX: ZipArchive}
"""The format of a staged archive, by its key's suffix (``keys.staged_key``)."""


log = logging.getLogger("assets_registry.bundles")


class BundleIngest:
    def __init__(
        self,
        registry: Registry,
        blobs: BlobStore,
        limits: BundleLimits,
        describers: Sequence[Describer] = (),
        reshapers: Sequence[Reshaper] = (),
        checkers: Sequence[Checker] = (),
        services: Sequence[Service] = (),
        batches: Sequence[BatchDescriber] = (),
    ) -> None:
        """The plugins' steps (``describers``, ``reshapers``, ``checkers``, ``batches``) run on
        every ingest; ``services`` are the configured webhook services."""
        self.registry = registry
        self.blobs = blobs
        self.limits = limits
        self.catalog = StepCatalog(Steps(reshapers, checkers, describers, batches), services)
        self.bucket_open: Callable[[str], bool] = lambda _name: True
        """May an upload register into this named bucket now? (``AssetStore.bucket_open``)"""

    def run(self, attempt: Attempt) -> str:
        """Register the bundle's asset and return its id; raise ``BundleRejected`` with the reason."""
        document = self._store(attempt)
        asset_id = str(document["asset_id"])
        if attempt.stored_keys is None:
            return asset_id  # an earlier attempt registered it
        replaced: list[str] = []
        steps = self.steps_of(attempt.staged_key)
        try:
            # The Asset Store's order: mutate, validate, extract metadata, register.
            tick = attempt.heartbeat  # a step streaming a file to a service keeps the job's lease
            document, written, replaced = mutate_files(
                document, self.blobs, steps.mutators, self.limits.max_unpacked_bytes, tick
            )
            attempt.stored_keys = [*attempt.stored_keys, *written]  # cleaned up with the rest on failure
            attempt.heartbeat(force=True)
            if written:
                self.registry.validate(document)
            check_files(document, self.blobs, steps.checkers, tick)
            attempt.heartbeat(force=True)
            document = describe_files(document, self.blobs, steps.describers, steps.batches, tick)
            bucket = bucket_of(attempt.staged_key)
            if bucket is not None and not self.bucket_open(bucket):
                raise BundleRejected(f"the bucket {bucket!r} was deleted, or is not Ready, while the upload ran")
            self.registry.create(document, own_keys=attempt.stored_keys)
        except AssetExists:
            raise BundleRejected(f"asset {asset_id} already exists") from None
        except InvalidAsset as exc:
            raise BundleRejected(_invalid(exc)) from None
        except PluginFailed as exc:
            raise BundleRejected(f"plugin_failed: {exc.plugin}: {exc.reason}") from None
        except StepRefused as exc:
            raise BundleRejected(exc.reason) from None
        for key in replaced:  # the blobs mutators remade: no file points at them any more
            try:
                self.blobs.delete(key)
            except Exception:  # the asset is registered; the orphan sweep takes what is left
                log.warning("upload %s: could not delete the replaced blob %s", attempt.upload_id, key, exc_info=True)
        return asset_id

    def salvage(self, attempt: Attempt) -> bool:
        """The job's workers kept dying: is the asset there, registered by one of its attempts?

        Reads the archive only as far as ``asset.json``; a bundle that cannot get that far
        was not registered. The caller then deletes ``attempt.member_keys()``.
        """
        attempt.early = self.read_early(attempt.staged_key)
        attempt.received = [hole.key for hole in attempt.early.received] if attempt.early else []
        try:
            with self.open_archive(attempt.staged_key, attempt.early) as archive:
                attempt.plan = plan_bundle(archive.entries(), archive.size, self.limits)
                document = read_asset_json(archive, attempt.plan)
                attempt.asset_id = document["asset_id"]
                return self.registered_by(attempt, document)
        except (BundleRejected, ArchiveDamaged):
            return False

    def _store(self, attempt: Attempt) -> Document:
        """Check the archive and store its members; return the completed asset document.

        Returns with the archive's index and the early manifest already let go (a job of
        10,000 members holds ~15 MB of them), before registering builds its own copies.
        """
        early = attempt.early = self.read_early(attempt.staged_key)
        attempt.received = [hole.key for hole in early.received] if early else []
        with self.open_archive(attempt.staged_key, early) as archive:
            plan = attempt.plan = plan_bundle(archive.entries(), archive.size, self.limits)
            document = read_asset_json(archive, plan)
            attempt.asset_id = str(document["asset_id"])
            attempt.heartbeat(force=True)
            if self.registered_by(attempt, document):
                return document
            self._validate(completed(document, plan, placeholder_files(plan)))
            stored = self._store_members(attempt, archive, _usable(early, archive.entries(), plan))
            document = completed(document, plan, stored)
        taken = {attempt.member_key(m.name) for m in plan.members}
        self._delete([k for k in (early.keys() if early else []) if k not in taken])
        attempt.forget_archive()
        return document

    def open_archive(self, key: str, early: EarlyManifest | None) -> Archive:
        """The staged archive, its holes filled from the blobs of members stored early."""
        if early is not None and (reason := early.unreadable()):
            raise BundleRejected(reason)
        open_format = next((f for suffix, f in ARCHIVE_FORMATS.items() if key.endswith(suffix)), ZipArchive)
        try:
            holes = [*early.holes, *early.received] if early else []
            return open_format(BlobFile(self.blobs, key, holes=holes))
        except ArchiveDamaged as exc:
            raise BundleRejected(str(exc)) from None

    def steps_of(self, staged_key: str) -> Steps:
        """The steps this upload runs: the plugins', the ``always`` services and those it named."""
        try:
            named = msgspec.json.decode(b"".join(self.blobs.read(services_key(staged_key))), type=list[str])
        except BlobNotFound:
            named = []
        except msgspec.DecodeError:  # torn by a crash (ValidationError is one too): the staging never finished
            raise BundleRejected("the upload's list of services is unreadable; upload the bundle again") from None
        if gone := self.catalog.gone(named):
            raise BundleRejected(
                f"the webhook service {', '.join(map(repr, gone))} the upload named is no longer configured"
            )
        return self.catalog.steps(named)

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

    def registered_by(self, attempt: Attempt, document: Document) -> bool:
        """Is the asset already there because an earlier attempt of this job registered it?

        Raise ``BundleRejected`` if it is there but belongs to someone else.
        """
        try:
            existing = self.registry.get(document["asset_id"]).document
        except AssetNotFound:
            return False
        if attempt.number <= 1:  # no earlier attempt: whoever registered it, it was not us
            raise BundleRejected(f"asset {document['asset_id']} already exists")
        plan = attempt.plan
        assert plan is not None
        if plan.members:
            ours = {attempt.member_key(m.name) for m in plan.members}
            keys = {self.blobs.key_for_url(f.get("asset_file_url", "")) for f in existing.get("files", [])}
            # Keys are unique to the upload: an asset pointing at any of them was registered by
            # an attempt of this job (mutated files count as their members).
            if {unmutated_key(k) for k in keys if k} & ours:
                return True
        else:
            try:
                if existing == asset_to_document(self.registry.validate(completed(document, plan, {}))):
                    return True
            except InvalidAsset:
                pass
        raise BundleRejected(f"asset {document['asset_id']} already exists")

    def _validate(self, document: Document) -> None:
        try:
            self.registry.validate(document)
        except InvalidAsset as exc:
            raise BundleRejected(_invalid(exc)) from None
        except PluginFailed as exc:
            raise BundleRejected(f"plugin_failed: {exc.plugin}: {exc.reason}") from None

    def _store_members(
        self, attempt: Attempt, archive: Archive, early: dict[str, EarlyMember]
    ) -> dict[str, StoredFile]:
        assert attempt.plan is not None
        stored: dict[str, StoredFile] = {}
        for member in attempt.plan.members:
            entry = member.entry
            head_start = early.get(member.name)
            if head_start is not None:
                stored[member.path] = (head_start.blob(), head_start.crc32, entry.modified)
                attempt.bytes_done += member.size
                attempt.files_done += 1
                attempt.heartbeat()
                continue
            crc = _Crc(entry.crc32)
            try:
                with archive.open(entry) as source:
                    info = self.blobs.put(attempt.member_key(member.name), crc.of(attempt.chunks(source)))
            except ArchiveDamaged as exc:
                raise BundleRejected(f"member {member.name} is damaged ({exc})") from None
            except InvalidInput as exc:
                raise BundleRejected(f"member {member.name} cannot be stored: {exc.message}") from None
            stored[member.path] = (info, crc.value, entry.modified)
            attempt.files_done += 1
        attempt.heartbeat(force=True)
        return stored


def _invalid(exc: InvalidAsset) -> str:
    return f"asset.json is invalid: {exc.errors[0] if exc.errors else exc.message}"


class _Crc:
    """A member's CRC-32: the one its archive records (checked by the format as it unpacks),
    or, for a format that records none, computed as the member is stored."""

    def __init__(self, recorded: int | None) -> None:
        self.recorded = recorded
        self.value = recorded or 0

    def of(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        if self.recorded is not None:
            yield from chunks
            return
        for chunk in chunks:
            self.value = crc32(chunk, self.value)
            yield chunk


def _agrees(early: EarlyMember, member: BundleMember) -> bool:
    return (early.size, early.crc32) == (member.size, member.entry.crc32)


def _usable(early: EarlyManifest | None, entries: Sequence[Entry], plan: BundlePlan) -> dict[str, EarlyMember]:
    """Members stored early, by name, if the stream held the archive index's entries.

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
    in_order = [e.name for e in sorted(entries, key=lambda e: e.offset)]
    listed = in_order[: len(early.names)] == early.names
    wanted = {m.name: m for m in plan.members}
    usable = {
        m.name: m
        for m in early.members
        if listed
        and (member := wanted.get(m.name)) is not None
        and (m.size, m.crc32) == (member.size, member.entry.crc32)
    }
    names = {m.key: m.name for m in early.members}
    for key in {h.key for h in early.holes}:
        if names.get(key) not in usable:
            raise BundleRejected(
                f"member {names.get(key, key)}: the archive's local entries disagree with its central directory "
                "(it is damaged, or made to show different files to different tools); create it again"
            )
    return usable
