"""A source's bytes into the blob store: one file, a package unpacked, or the files of an index.

``package`` recognises the archive by its first bytes, not its name: ZIP (staged as a blob,
then read through its central directory like an uploaded bundle), or TAR, plain or
compressed with gzip, bzip2, xz or zstd (read once, as a stream: ``tarfile``'s ``r|``
modes). Both go through the bundle rules (``core.bundles.rules``): no ``..``, absolute paths,
links or devices, bounded members, sizes and expansion ratios (of the whole download, for a
TAR), each refusal naming the member. A TAR member is checked as its header arrives, before
its bytes are read, and stored only if the filter may want it (its name, or its name below a
top-level folder, matches); the filter is applied exactly once the whole archive is known.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import re2
import yaml
import zstandard
from isal.isal_zlib import crc32

from assets_registry.core.bundles.archive import Entry, EntryKind
from assets_registry.core.bundles.documents import StoredFile
from assets_registry.core.bundles.errors import ArchiveDamaged, BundleRejected
from assets_registry.core.bundles.rules import (
    ASSET_JSON,
    BundleLimits,
    BundleMember,
    BundlePlan,
    check_entry,
    check_member_name,
    plan_bundle,
)
from assets_registry.core.bundles.staged_archive import BlobFile
from assets_registry.core.bundles.zip_archive import ZipArchive
from assets_registry.core.errors import InvalidInput
from assets_registry.core.ports import BlobStore
from assets_registry.core.sources.fetch import Fetcher
from assets_registry.core.sources.reasons import SourceFailed

READ = 1 << 20
MAX_INDEX_BYTES = 4 << 20
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


@dataclass
class Gathered:
    """What a source's URL gave: its files stored (by path in the asset), and what came with them."""

    plan: BundlePlan
    stored: dict[str, StoredFile]
    asset_json: bytes | None = None
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    """File metadata an index gave, by path."""


class Gatherer:
    def __init__(
        self,
        blobs: BlobStore,
        fetcher: Fetcher,
        limits: BundleLimits,
        key_of: Callable[[str], str],
        written: list[str],
        tick: Callable[[], None] = lambda: None,
    ) -> None:
        """``key_of`` names a file's blob from its name; every key written is added to ``written``."""
        self.blobs, self.fetcher, self.limits = blobs, fetcher, limits
        self.key_of, self.written, self.tick = key_of, written, tick

    # -- single -------------------------------------------------------------------------

    def single(self, url: str) -> Gathered:
        with self.fetcher.open(url, self.limits.max_unpacked_bytes) as fetched:
            name = _file_name(fetched.url)
            stored = self._put(name, self._ticking(fetched.chunks()))
        entry = _entry(name, stored[0].size)
        return Gathered(BundlePlan(None, (BundleMember(entry, name),)), {name: stored})

    # -- package ------------------------------------------------------------------------

    def package(self, url: str, flt: str, staging_key: str) -> Gathered:
        with self.fetcher.open(url, self.limits.max_upload_bytes) as fetched:
            counted = _Counted(self._ticking(fetched.chunks()))
            head = counted.peek(512)
            if head.startswith(_ZIP):
                return self._zip(counted, flt, staging_key)
            kind = next((name for magic, name in _COMPRESSED.items() if head.startswith(magic)), None)
            if kind is None and head[257:262] != b"ustar":
                raise SourceFailed(
                    "package_invalid",
                    f"{fetched.url} is not a ZIP or TAR archive (plain, gzip, bzip2, xz or zstd) by its first bytes",
                )
            return self._tar(counted, kind, flt)

    def _zip(self, counted: _Counted, flt: str, staging_key: str) -> Gathered:
        self.written.append(staging_key)
        self.blobs.put(staging_key, counted, transient=True)
        try:
            with ZipArchive(BlobFile(self.blobs, staging_key)) as archive:
                plan = _planned(archive.entries(), archive.size, self.limits, flt)
                asset_json = archive.read(plan.asset_json) if plan.asset_json else None
                stored: dict[str, StoredFile] = {}
                for member in plan.members:
                    with archive.open(member.entry) as source:
                        info, crc = self._put_crc(member.name, _read_all(source))
                    stored[member.path] = (info, crc, member.entry.modified)
            return Gathered(plan, stored, asset_json)
        except ArchiveDamaged as exc:
            raise SourceFailed("package_invalid", f"the ZIP archive is damaged ({exc})") from None
        finally:
            self.blobs.delete(staging_key)

    def _tar(self, counted: _Counted, kind: str | None, flt: str) -> Gathered:
        raw: Any = _Stream(counted)
        if kind == "zstd":
            raw = zstandard.ZstdDecompressor().stream_reader(raw, read_size=READ)
        wanted = _Wanted(flt)
        entries: list[Entry] = []
        by_name: dict[str, StoredFile] = {}
        asset_jsons: dict[str, bytes] = {}
        total = 0
        try:
            with tarfile.open(fileobj=raw, mode="r|" if kind == "zstd" else "r|*") as archive:
                for info in archive:
                    entry = _tar_entry(info, len(entries))
                    check_member_name(entry.name)
                    if entry.kind == "folder":
                        entries.append(entry)
                        continue
                    check_entry(entry, self.limits)
                    entries.append(entry)
                    total += entry.size
                    self._bounded(len(entries), total, counted.size)
                    if posixpath.basename(entry.name) == ASSET_JSON and entry.name.count("/") <= 1:
                        if entry.size <= self.limits.max_asset_json_bytes:
                            asset_jsons[entry.name] = _read_all_bytes(archive.extractfile(info))
                        continue
                    if not wanted.may_want(entry.name):
                        continue
                    info_, crc = self._put_crc(entry.name, _read_all(archive.extractfile(info)))
                    by_name[entry.name] = (info_, crc, entry.modified)
        except BundleRejected:
            raise
        except (tarfile.TarError, zstandard.ZstdError, EOFError, OSError) as exc:
            raise SourceFailed(
                "package_invalid", f"the TAR archive cannot be read ({type(exc).__name__}: {exc})"
            ) from None
        plan = _planned(entries, counted.size, self.limits, flt, members_stored=set(by_name) | set(asset_jsons))
        for name in set(by_name) - {m.name for m in plan.members}:
            self.blobs.delete(self.key_of(name))
        stored = {m.path: by_name[m.name] for m in plan.members}
        asset_json = asset_jsons.get(plan.asset_json.name) if plan.asset_json else None
        return Gathered(plan, stored, asset_json)

    def _bounded(self, count: int, total: int, packed: int) -> None:
        limits = self.limits
        if count > limits.max_members + 1:
            raise BundleRejected(f"the archive has more than {limits.max_members} members, the most accepted")
        if total > limits.max_unpacked_bytes:
            raise BundleRejected(
                f"the archive unpacks to more than {limits.max_unpacked_bytes} bytes, the most accepted"
            )
        if total > limits.ratio_applies_above and total / max(packed, 1) > limits.max_ratio:
            raise BundleRejected(
                f"the archive expands more than {limits.max_ratio:.0f} times ({packed} bytes read unpack to "
                f"{total}); at most {limits.max_ratio:.0f} times is accepted"
            )

    # -- index --------------------------------------------------------------------------

    def index(self, url: str, flt: str) -> Gathered:
        with self.fetcher.open(url, MAX_INDEX_BYTES) as fetched:
            text = b"".join(fetched.chunks())
            base = fetched.url
        items = _index_items(text)
        wanted = re2.compile(flt) if flt else None
        members: list[BundleMember] = []
        stored: dict[str, StoredFile] = {}
        metadata: dict[str, dict[str, Any]] = {}
        total = 0
        for n, item in enumerate(items):
            name = item["name"]
            if wanted is not None and wanted.search(name) is None:
                continue
            file_url = urljoin(base, item.get("url") or name)
            with self.fetcher.open(file_url, self.limits.max_unpacked_bytes - total) as fetched:
                stored[name] = self._put(name, self._ticking(fetched.chunks()))
            total += stored[name][0].size
            members.append(BundleMember(_entry(name, stored[name][0].size, n), name))
            if item.get("metadata"):
                metadata[name] = item["metadata"]
        return Gathered(BundlePlan(None, tuple(members)), stored, None, metadata)

    # -- storing ------------------------------------------------------------------------

    def _put(self, name: str, chunks: Iterable[bytes]) -> StoredFile:
        info, crc = self._put_crc(name, chunks)
        return info, crc, _now()

    def _put_crc(self, name: str, chunks: Iterable[bytes]) -> tuple[Any, int]:
        key = self.key_of(name)
        self.written.append(key)
        crc = [0]

        def hashed() -> Iterator[bytes]:
            for chunk in chunks:
                crc[0] = crc32(chunk, crc[0])
                self.tick()
                yield chunk

        try:
            info = self.blobs.put(key, hashed())
        except InvalidInput as exc:
            raise SourceFailed("upload_failed", f"{name} cannot be stored: {exc.message}") from None
        return info, crc[0]

    def _ticking(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.tick()
            yield chunk


def _planned(
    entries: list[Entry] | Any, size: int, limits: BundleLimits, flt: str, members_stored: set[str] | None = None
) -> BundlePlan:
    """The bundle rules over every entry, then the filter on the files' paths in the asset."""
    plan = plan_bundle(entries, size, limits, asset_json_required=False)
    if flt:
        pattern = re2.compile(flt)
        plan = BundlePlan(plan.asset_json, tuple(m for m in plan.members if pattern.search(m.path) is not None))
    if members_stored is not None:  # a TAR: members the stream skipped were not wanted by the filter
        plan = BundlePlan(plan.asset_json, tuple(m for m in plan.members if m.name in members_stored))
    return plan


class _Wanted:
    """Whether a TAR member may be wanted, before the archive's top-level folder is known."""

    def __init__(self, flt: str) -> None:
        self.pattern = re2.compile(flt) if flt else None

    def may_want(self, name: str) -> bool:
        if self.pattern is None:
            return True
        below_top = name.split("/", 1)[1] if "/" in name else name
        return self.pattern.search(name) is not None or self.pattern.search(below_top) is not None


def _index_items(text: bytes) -> list[dict[str, Any]]:
    try:
        loaded = yaml.safe_load(text.decode("utf-8"))  # JSON is YAML
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SourceFailed("index_invalid", f"it is not JSON or YAML ({exc})") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("files"), list):
        loaded = loaded["files"]
    if not isinstance(loaded, list):
        raise SourceFailed("index_invalid", 'it must be a list of {"name", "url"?, "metadata"?} (or {"files": [...]})')
    seen: set[str] = set()
    for n, item in enumerate(loaded):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise SourceFailed("index_invalid", f"item {n} needs a name string")
        name = item["name"]
        try:
            check_member_name(name)
        except BundleRejected as exc:
            raise SourceFailed("index_invalid", f"item {n}: {exc.reason}") from None
        if name in seen:
            raise SourceFailed("index_invalid", f"item {n}: {name} is listed twice")
        seen.add(name)
        if item.get("url") is not None and not isinstance(item["url"], str):
            raise SourceFailed("index_invalid", f"item {n} ({name}): url must be a string")
        if item.get("metadata") is not None and not isinstance(item["metadata"], dict):
            raise SourceFailed("index_invalid", f"item {n} ({name}): metadata must be an object")
    return loaded


def _file_name(url: str) -> str:
    name = posixpath.basename(unquote(urlsplit(url).path))
    try:
        check_member_name(name)
    except BundleRejected:
        name = ""
    return name if name not in ("", ".", "..") else "file"


def _entry(name: str, size: int, offset: int = 0) -> Entry:
    return Entry(name, "file", size, size, offset, None, _now())


def _tar_entry(info: tarfile.TarInfo, offset: int) -> Entry:
    kind: EntryKind = (
        "file" if info.isreg() else "folder" if info.isdir() else "link" if info.issym() or info.islnk() else "other"
    )
    name = info.name.removeprefix("./")
    if kind == "folder":
        name = name.rstrip("/") + "/"
    modified = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(max(0, int(info.mtime))))
    return Entry(name, kind, info.size if kind == "file" else 0, info.size, offset, None, modified)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())


def _read_all(source: Any) -> Iterator[bytes]:
    while chunk := source.read(READ):
        yield chunk


def _read_all_bytes(source: Any) -> bytes:
    return b"".join(_read_all(source)) if source is not None else b""


class _Counted:
    """The downloaded bytes, counted (for the expansion ratio), with a look at the first ones."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._head = b""
        self.size = 0

    def peek(self, n: int) -> bytes:
        while len(self._head) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._head += chunk
        return self._head[:n]

    def __iter__(self) -> Iterator[bytes]:
        if self._head:
            head, self._head = self._head, b""
            self.size += len(head)
            yield head
        for chunk in self._chunks:
            self.size += len(chunk)
            yield chunk


class _Stream(io.RawIOBase):
    """The counted chunks as a file object for ``tarfile`` and ``zstandard``."""

    def __init__(self, chunks: _Counted) -> None:
        self._iter = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._iter, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n
