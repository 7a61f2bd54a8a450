"""The ZIP format behind ``archive.Archive``: ``zipfile`` over the staged archive's blob.

A ZIP archive is read from its end (the central directory) and then member by member;
``staged_archive.BlobFile`` gives ``zipfile`` the seekable file it needs without holding the
archive anywhere. The central directory is the archive's index: its entries, in its order,
are what the rules check and what ingest stores.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import IO

from assets_registry.core.bundles.archive import Entry, EntryKind
from assets_registry.core.bundles.errors import ArchiveDamaged
from assets_registry.core.bundles.staged_archive import BlobFile

SUPPORTED_COMPRESSION = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "LZMA",
}
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, NotImplementedError)
"""What ``zipfile`` raises on damaged data (bz2 and lzma errors are OSError or ValueError)."""
ZIP_EPOCH = datetime(1980, 1, 1)


class ZipArchive:
    """``archive.Archive`` for a ZIP file: raises ``ArchiveDamaged`` if it is not one."""

    def __init__(self, raw: BlobFile) -> None:
        self.raw = raw
        self.size = raw.size
        try:
            self.zip = zipfile.ZipFile(raw)
        except DAMAGED as exc:
            raw.close()
            # zipfile's own sentences name the part that is missing; a seek before the start of
            # a file shorter than any directory says only that, without its offsets.
            why = str(exc) if isinstance(exc, zipfile.BadZipFile) else "too short to hold a ZIP directory"
            raise ArchiveDamaged(f"the upload is not a readable ZIP archive ({why})") from None
        self._entries: list[Entry] | None = None

    def entries(self) -> Sequence[Entry]:
        if self._entries is None:
            self._entries = [_entry(info) for info in self.zip.infolist()]
        return self._entries

    @contextmanager
    def open(self, entry: Entry) -> Iterator[_Guarded]:
        info = entry.handle
        assert isinstance(info, zipfile.ZipInfo)
        try:
            source = self.zip.open(info)
        except DAMAGED as exc:
            raise ArchiveDamaged(str(exc)) from None
        with source:
            yield _Guarded(source)

    def read(self, entry: Entry) -> bytes:
        with self.open(entry) as source:
            return source.read()

    def close(self) -> None:
        self.zip.close()
        self.raw.close()

    def __enter__(self) -> ZipArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Guarded:
    """A member's stream whose damage comes out as ``ArchiveDamaged``."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self.source.read(size)
        except DAMAGED as exc:
            raise ArchiveDamaged(str(exc)) from None


def _entry(info: zipfile.ZipInfo) -> Entry:
    return Entry(
        name=info.orig_filename,
        kind=_kind(info),
        size=info.file_size,
        packed=info.compress_size,
        offset=info.header_offset,
        crc32=info.CRC,
        modified=_modified(info),
        refusal=_refusal(info),
        handle=info,
    )


def _kind(info: zipfile.ZipInfo) -> EntryKind:
    if info.is_dir():
        return "folder"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "link"
    if mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        return "other"
    return "file"


def _refusal(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "is encrypted"
    if info.compress_type not in SUPPORTED_COMPRESSION:
        accepted = ", ".join(SUPPORTED_COMPRESSION.values())
        return f"uses compression method {info.compress_type}; accepted are {accepted}"
    return None


def _modified(info: zipfile.ZipInfo) -> str:
    try:
        return datetime(*info.date_time).isoformat()
    except ValueError:  # archivers write zero dates; keep the ZIP epoch instead
        return ZIP_EPOCH.isoformat()
