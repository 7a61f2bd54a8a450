"""The seam between an archive format and the rest of ingest: the members of an archive.

Ingest (``ingest``) checks a bundle by the rules (``rules``), reads its ``asset.json``, stores
its files and registers the asset without knowing how the archive is laid out. What it
needs from a format is what ``Archive`` gives: every entry of the archive as an ``Entry``
(name, sizes, kind, where it lies, a reason it cannot be unpacked), and a stream of one
regular entry's bytes. ``zip_archive`` is the ZIP format; another format (TAR) is another
module with the same two methods, and an archive that came from elsewhere (fetched from a
URL) is staged as a blob and opened the same way.

Damaged data, whatever the format's library raises for it, comes out as ``ArchiveDamaged``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

EntryKind = Literal["file", "folder", "link", "other"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of an archive, as the rules see it whatever the format."""

    name: str
    """The entry's path as the archive spells it (``/``-separated)."""
    kind: EntryKind
    size: int
    """Bytes it unpacks to (as the archive declares; reading never yields more)."""
    packed: int
    """Bytes it takes in the archive (for the expansion-ratio limit)."""
    offset: int
    """Where it starts in the archive: entries in this order are the archive as streamed."""
    crc32: int | None
    modified: str
    """ISO date and time of its last change, as the archive records it."""
    refusal: str | None = None
    """Why the format cannot unpack it (``is encrypted``), or None."""
    handle: object = None
    """The format's own record of the entry (a ``zipfile.ZipInfo``), for ``Archive.open``."""


class MemberStream(Protocol):
    """One entry's bytes as they unpack."""

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end; ``ArchiveDamaged`` on damaged data."""


class Archive(Protocol):
    """An archive opened for reading; ``with`` it to close it."""

    size: int
    """The archive's length in bytes."""

    def entries(self) -> Sequence[Entry]:
        """Every entry, in the order of the archive's own index."""

    def open(self, entry: Entry) -> AbstractContextManager[MemberStream]:
        """A stream of a regular entry's bytes; reads raise ``ArchiveDamaged`` on damaged data."""

    def read(self, entry: Entry) -> bytes:
        """A small entry's bytes whole (``asset.json``); ``ArchiveDamaged`` on damaged data."""

    def __enter__(self) -> Archive: ...

    def __exit__(self, *exc: object) -> None: ...
