"""What the bundle tests share: real embedded adapters in ``tmp_path``, hand-patched archives, checks.

Not a test module: ``test_bundle_hostile`` and ``test_bundle_early_unpack`` import it. The
archives themselves are built with the test kit (``assets_registry.testing``).
"""

from __future__ import annotations

import hashlib
import os
import random
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from assets_registry.adapters.filesystem import FilesystemBlobStore
from assets_registry.adapters.sqlite import SqliteJobTracker, SqliteMetadataStore
from assets_registry.core.bundles import BundleLimits, Bundles, JobSettings
from assets_registry.core.bundles.keys import file_key
from assets_registry.core.filters import compile_filter
from assets_registry.core.ports import SUCCESS, BlobInfo, Document, UploadJob
from assets_registry.core.registry import Registry
from assets_registry.testing import asset_json as kit_asset_json
from assets_registry.testing import build_zip

MiB = 1 << 20
ASSET_ID = "zip-1"


# -- the system under test: real embedded adapters in tmp_path ----------------------------


@dataclass
class Env:
    root: Path
    store: SqliteMetadataStore
    registry: Registry
    blobs: FilesystemBlobStore
    jobs: SqliteJobTracker
    bundles: Bundles

    @property
    def blob_root(self) -> Path:
        return self.root / "blobs"

    def make_bundles(
        self,
        limits: BundleLimits | None = None,
        job_settings: JobSettings | None = None,
        blobs: FilesystemBlobStore | None = None,
    ) -> Bundles:
        """Another worker over the same stores, with its own limits or job settings."""
        return Bundles(self.registry, blobs or self.blobs, self.jobs, limits, job_settings)

    def close(self) -> None:
        self.store.close()
        self.jobs.close()
        self.blobs.close()


def make_env(root: Path) -> Env:
    store = SqliteMetadataStore(root / "registry.db")
    registry = Registry(store)
    blobs = FilesystemBlobStore(root / "blobs")
    jobs = SqliteJobTracker(root / "jobs.db")
    return Env(root, store, registry, blobs, jobs, Bundles(registry, blobs, jobs))


# -- building archives ---------------------------------------------------------------------


def asset_json(asset_id: str = ASSET_ID, **fields: Any) -> bytes:
    """The manifest of these tests' bundles (the kit's, with their profile id)."""
    return kit_asset_json(asset_id, profile_id="profile-1", **fields)


def info(name: str, **attributes: Any) -> zipfile.ZipInfo:
    zinfo = zipfile.ZipInfo(name, date_time=(2024, 5, 6, 7, 8, 10))
    zinfo.compress_type = zipfile.ZIP_DEFLATED
    for key, value in attributes.items():
        setattr(zinfo, key, value)
    return zinfo


def payload(size: int, seed: int = 1) -> bytes:
    """Bytes that are neither all alike nor random: they compress, but not absurdly."""
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randint(1, 12)) for _ in range(64)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words)
    return bytes(out[:size])


def chunked(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def rename_member(data: bytes, placeholder: str, hostile: str) -> bytes:
    """Rename a member in both its local header and the central directory (zipfile refuses some names)."""
    old, new = placeholder.encode(), hostile.encode()
    assert len(old) == len(new)
    assert data.count(old) == 2, "the placeholder must appear in the local header and the central directory only"
    return data.replace(old, new)


@dataclass(frozen=True)
class Headers:
    central: int  # offset of the member's central directory entry
    local: int  # offset of its local header


def headers(data: bytes, name: str) -> Headers:
    """Where a member's two headers are (archives without ZIP64 records)."""
    end = data.rfind(b"PK\x05\x06")
    (position,) = struct.unpack_from("<I", data, end + 16)
    while data[position : position + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, position + 28)
        (local,) = struct.unpack_from("<I", data, position + 42)
        if data[position + 46 : position + 46 + name_len] == name.encode():
            return Headers(position, local)
        position += 46 + name_len + extra_len + comment_len
    raise AssertionError(f"no member {name} in the archive")


def patch_member(
    data: bytes,
    name: str,
    *,
    add_flags: int = 0,
    method: int | None = None,
    central_file_size: int | None = None,
) -> bytes:
    """Rewrite header fields zipfile will not write itself, in both headers unless told otherwise."""
    out = bytearray(data)
    where = headers(data, name)
    if add_flags:
        for offset in (where.central + 8, where.local + 6):
            (flags,) = struct.unpack_from("<H", out, offset)
            struct.pack_into("<H", out, offset, flags | add_flags)
    if method is not None:
        struct.pack_into("<H", out, where.central + 10, method)
        struct.pack_into("<H", out, where.local + 8, method)
    if central_file_size is not None:
        struct.pack_into("<I", out, where.central + 24, central_file_size)
    return bytes(out)


def raw_deflated_zip(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A ZIP of already deflated members ``(name, raw deflate stream, crc32, size)``, written by hand.

    It lets one compressed megabyte of zeros be reused for thousands of members.
    """
    out = bytearray()
    central = bytearray()
    dos_date = (0 << 9) | (1 << 5) | 1  # 1980-01-01
    for name, compressed, crc, size in entries:
        encoded = name.encode()
        offset = len(out)
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, zipfile.ZIP_DEFLATED, 0, dos_date, crc, len(compressed), size,
            len(encoded), 0,
        )  # fmt: skip
        out += encoded + compressed
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | 20, 20, 0, zipfile.ZIP_DEFLATED, 0, dos_date, crc,
            len(compressed), size, len(encoded), 0, 0, 0, 0, 0o100644 << 16, offset,
        )  # fmt: skip
        central += encoded
    directory_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), directory_offset, 0)
    return bytes(out)


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


# -- running and checking ------------------------------------------------------------------


def run(bundles: Bundles, data: bytes | Iterable[bytes], worker: str = "w") -> UploadJob:
    """Stage an archive, run the job to its end, and return its final state."""
    job = bundles.stage([data] if isinstance(data, bytes) else data)
    ran = bundles.run_next(worker)
    assert ran is not None
    assert ran.upload_id == job.upload_id
    final = bundles.status(job.upload_id)
    assert final.finished, final.status
    return final


def stored_files(root: Path) -> set[str]:
    """Every file under the blob root, as a relative POSIX path (the reserved ``.partial`` included)."""
    found: set[str] = set()
    for folder, _subfolders, files in os.walk(root):
        for name in files:
            found.add((Path(folder) / name).relative_to(root).as_posix())
    return found


def disk_bytes(root: Path) -> int:
    return sum((root / relative).stat().st_size for relative in stored_files(root))


def assert_partial_empty(env: Env) -> None:
    partial = env.blob_root / ".partial"
    assert partial.is_dir()
    assert list(partial.iterdir()) == []


def assert_left_nothing(env: Env, job: UploadJob, keep: frozenset[str] = frozenset()) -> None:
    """A failed upload registered no asset and left no blob: not its archive, not a member, no partial file."""
    assert job.status.startswith("failed: "), job.status
    assert env.store.find(compile_filter({}), 10).documents == []
    assert stored_files(env.blob_root) == set(keep)
    assert_partial_empty(env)


def blob_bytes(env: Env, url: str) -> bytes:
    key = env.blobs.key_for_url(url)
    assert key is not None, url
    return b"".join(env.blobs.read(key))


def assert_registered(env: Env, job: UploadJob, members: dict[str, bytes], folder: str = "") -> Document:
    """The job succeeded and registered exactly these files, each one stored intact.

    Blobs are named after the members as the archive spells them: ``folder`` is the
    wrapper folder the file ids leave out.
    """
    assert job.status == SUCCESS, job.status
    assert job.asset_id is not None
    document = env.registry.get(job.asset_id).document
    assert sorted(document["asset_file_ids"]) == sorted(members)
    assert len(document["asset_file_ids"]) == len(set(document["asset_file_ids"]))
    files = {f["asset_file_id"]: f for f in document["files"]}
    assert len(files) == len(document["files"]) == len(members)
    for path, data in members.items():
        entry = files[path]
        metadata = entry["asset_file_metadata"]
        assert metadata["size"] == len(data)
        assert metadata["sha256"] == hashlib.sha256(data).hexdigest()
        assert metadata["crc32"] == zlib.crc32(data)
        assert isinstance(datetime.fromisoformat(metadata["modified"]), datetime)
        assert env.blobs.key_for_url(entry["asset_file_url"]) == file_key(job.upload_id, folder + path)
        assert blob_bytes(env, entry["asset_file_url"]) == data
    assert stored_files(env.blob_root) == {file_key(job.upload_id, folder + path) for path in members}
    assert_partial_empty(env)
    return document


def model_bundle(asset_id: str = ASSET_ID, model: bytes = b"weights" * 100) -> bytes:
    return build_zip([("asset.json", asset_json(asset_id)), ("model.bin", model)])


class RecordingBlobStore(FilesystemBlobStore):
    """The filesystem store, counting the bytes offered to every key."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.written: dict[str, int] = {}

    def put(self, key: str, chunks: Iterable[bytes], transient: bool = False) -> BlobInfo:
        def counted() -> Iterator[bytes]:
            for chunk in chunks:
                self.written[key] = self.written.get(key, 0) + len(chunk)
                yield chunk

        self.written[key] = 0
        return super().put(key, counted(), transient=transient)
