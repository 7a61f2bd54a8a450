"""Kept ZIP frames: later downloads of an asset of many files splice them between the files.

The archive must be the same bytes whether stream-zip builds it or the frames are spliced,
frames must never serve other metadata, and damaged frames, changed or vanished files must
stop a download before its end, never yield an archive that looks whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from stream_unzip import stream_unzip

from assets_registry.adapters.filesystem import FilesystemBlobStore
from assets_registry.adapters.sqlite import SqliteJobTracker, SqliteMetadataStore
from assets_registry.core.bundles import Bundles, IncompleteAsset
from assets_registry.core.bundles import export as bundle_export
from assets_registry.core.bundles.frames import MIN_MEMBERS, read_frames
from assets_registry.core.bundles.keys import frames_key
from assets_registry.core.registry import Registry
from assets_registry.testing import bundle_zip

ASSET = {
    "asset_id": "many",
    "asset_uri": "models://example.com/many",
    "asset_version": "v1",
    "asset_profile_id": "p",
    "asset_file_ids": [],
    "profiles": [{"asset_profile_id": "p", "asset_type": "dataset", "asset_sub_type": "text"}],
}


def many_files(count: int = MIN_MEMBERS + 10) -> dict[str, bytes]:
    files = {f"files/{n // 30:02}/f{n:04}.txt": os.urandom(n % 1500) for n in range(count)}
    files["weights/large.bin"] = os.urandom(3 << 20)  # streamed in 1 MiB reads, not read whole
    files["ünïcode/名前.txt"] = b"named"
    files["empty"] = b""
    return files


@pytest.fixture
def bundles(tmp_path: Path) -> Iterator[Bundles]:
    store = SqliteMetadataStore(tmp_path / "registry.db")
    jobs = SqliteJobTracker(tmp_path / "jobs.db")
    yield Bundles(Registry(store), FilesystemBlobStore(tmp_path / "blobs"), jobs)
    store.close()
    jobs.close()


def register(bundles: Bundles, files: dict[str, bytes]) -> None:
    job = bundles.stage([bundle_zip(ASSET, files, compression=zipfile.ZIP_STORED)])
    bundles.run_next("w")
    assert bundles.status(job.upload_id).status == "success"


def download(bundles: Bundles) -> bytes:
    exported = bundles.export("many")
    data = b"".join(exported.chunks())
    assert len(data) == exported.size
    return data


def manifest_of(bundles: Bundles) -> bytes:
    return zipfile.ZipFile(io.BytesIO(download(bundles))).read("asset.json")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def no_stream_zip(*_args: object, **_kwargs: object) -> Iterator[bytes]:
    raise AssertionError("stream-zip ran: the kept frames were not used")


def consume(chunks: Iterator[bytes], into: bytearray) -> None:
    for chunk in chunks:
        into += chunk


def damage_frames(bundles: Bundles, archive: bytes, offset: int) -> str:
    """Flip a byte of the frames kept for ``archive``; their key."""
    key = frames_key(sha256(zipfile.ZipFile(io.BytesIO(archive)).read("asset.json")))
    path = Path(str(bundles.blobs.root)) / key  # type: ignore[attr-defined]
    frames = bytearray(path.read_bytes())
    frames[offset] ^= 0xFF
    path.write_bytes(bytes(frames))
    return key


def assert_stopped_short(bundles: Bundles, problem: str) -> None:
    """The download fails with ``problem`` before all of its ``Content-Length`` is sent."""
    exported = bundles.export("many")
    received = bytearray()
    with pytest.raises(IncompleteAsset, match=problem):
        consume(exported.chunks(), received)
    assert len(received) < exported.size


def blob_key(bundles: Bundles, name: str) -> str:
    entry = next(f for f in bundles.registry.get("many").document["files"] if f["asset_file_id"] == name)
    key = bundles.blobs.key_for_url(entry["asset_file_url"])
    assert key is not None
    return key


def forget_frames(bundles: Bundles) -> None:
    bundles.blobs.delete(frames_key(sha256(manifest_of(bundles))))


def test_the_spliced_archive_is_stream_zips_byte_for_byte(bundles: Bundles, monkeypatch: pytest.MonkeyPatch) -> None:
    files = many_files()
    register(bundles, files)
    forget_frames(bundles)
    built = download(bundles)
    assert read_frames(bundles.blobs, frames_key(sha256(zipfile.ZipFile(io.BytesIO(built)).read("asset.json"))))
    monkeypatch.setattr(bundle_export, "stream_zip", no_stream_zip)
    spliced = download(bundles)
    assert spliced == built
    archive = zipfile.ZipFile(io.BytesIO(spliced))
    assert archive.testzip() is None
    assert {n: archive.read(n) for n in archive.namelist() if n != "asset.json"} == files
    unzipped = {name.decode(): b"".join(chunks) for name, _size, chunks in stream_unzip([spliced])}
    assert unzipped == {**{"asset.json": archive.read("asset.json")}, **files}


def test_the_upload_job_keeps_the_frames_of_an_asset_of_many_small_files(
    bundles: Bundles, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"f{n:03}": b"x" * n for n in range(MIN_MEMBERS)}
    register(bundles, files)
    monkeypatch.setattr(bundle_export, "stream_zip", no_stream_zip)
    archive = zipfile.ZipFile(io.BytesIO(download(bundles)))  # the first download is spliced already
    assert {n: archive.read(n) for n in archive.namelist() if n != "asset.json"} == files


def test_an_archive_of_few_members_keeps_no_frames(bundles: Bundles) -> None:
    register(bundles, {f"f{n}": b"x" for n in range(MIN_MEMBERS - 2)})  # with asset.json: one short
    assert read_frames(bundles.blobs, frames_key(sha256(manifest_of(bundles)))) is None


def test_an_archive_of_large_files_keeps_no_frames(bundles: Bundles) -> None:
    """Where the bytes take far longer than the headers, frames would save nothing."""
    register(bundles, {f"f{n:03}": b"" for n in range(MIN_MEMBERS - 1)} | {"big": bytes((MIN_MEMBERS + 8) << 20)})
    assert read_frames(bundles.blobs, frames_key(sha256(manifest_of(bundles)))) is None


def test_frames_never_serve_changed_metadata(bundles: Bundles) -> None:
    register(bundles, many_files())
    before = download(bundles)
    bundles.registry.update("many", {"asset_version": "v2"})
    after = download(bundles)
    manifest = zipfile.ZipFile(io.BytesIO(after)).read("asset.json")
    assert json.loads(manifest)["asset_version"] == "v2"
    assert after != before
    assert read_frames(bundles.blobs, frames_key(sha256(manifest))) is not None  # kept anew for the new metadata
    assert download(bundles) == after


def test_an_update_or_delete_deletes_the_frames_of_the_version_it_replaces(bundles: Bundles) -> None:
    register(bundles, many_files())
    first = frames_key(sha256(manifest_of(bundles)))
    assert read_frames(bundles.blobs, first) is not None
    bundles.registry.update("many", {"asset_version": "v2"})
    assert read_frames(bundles.blobs, first) is None
    second = frames_key(sha256(manifest_of(bundles)))  # kept by this download
    assert read_frames(bundles.blobs, second) is not None
    bundles.registry.delete("many")
    assert read_frames(bundles.blobs, second) is None
    assert not (Path(str(bundles.blobs.root)) / "zip-frames").exists()  # type: ignore[attr-defined]


def test_damaged_frames_stop_the_download_before_its_end(bundles: Bundles) -> None:
    register(bundles, many_files())
    damage_frames(bundles, download(bundles), -30)  # in the central directory: the archive's last bytes
    assert_stopped_short(bundles, "frames are damaged")


def test_frames_with_a_damaged_index_are_not_used(bundles: Bundles) -> None:
    register(bundles, many_files())
    built = download(bundles)
    key = damage_frames(bundles, built, 60)  # in the index
    assert read_frames(bundles.blobs, key) is None
    assert download(bundles) == built  # built afresh, and the frames kept again
    assert read_frames(bundles.blobs, key) is not None


@pytest.mark.parametrize("name", ["files/00/f0007.txt", "weights/large.bin"], ids=["small file", "large file"])
@pytest.mark.parametrize("change", ["same size", "one byte more"])
def test_a_file_changed_behind_the_registrys_back_stops_a_spliced_download(
    bundles: Bundles, name: str, change: str
) -> None:
    files = many_files()
    register(bundles, files)
    download(bundles)  # keeps the frames
    key = blob_key(bundles, name)
    changed = bytes([files[name][0] ^ 1]) + files[name][1:] if change == "same size" else files[name] + b"!"
    bundles.blobs.put(key, [changed])
    assert_stopped_short(bundles, "no longer match")


def test_a_missing_file_is_refused_before_the_first_byte_of_a_spliced_download(bundles: Bundles) -> None:
    register(bundles, many_files())
    download(bundles)
    bundles.blobs.delete(blob_key(bundles, "ünïcode/名前.txt"))
    with pytest.raises(IncompleteAsset, match=r"its file ünïcode/名前\.txt is missing"):
        bundles.export("many")


def test_a_file_that_vanishes_mid_download_stops_a_spliced_download(bundles: Bundles) -> None:
    register(bundles, many_files())
    download(bundles)
    exported = bundles.export("many")
    bundles.blobs.delete(blob_key(bundles, "files/02/f0070.txt"))
    with pytest.raises(IncompleteAsset, match="vanished"):
        b"".join(exported.chunks())


def test_an_abandoned_download_keeps_no_frames(bundles: Bundles) -> None:
    register(bundles, many_files())
    manifest = manifest_of(bundles)
    forget_frames(bundles)
    chunks = bundles.export("many").chunks()
    assert isinstance(chunks, Generator)
    next(chunks)
    chunks.close()  # the client went away
    assert read_frames(bundles.blobs, frames_key(sha256(manifest))) is None


def test_the_upload_job_leaves_the_frames_of_large_files_to_the_first_download(bundles: Bundles) -> None:
    """Reading a bundle of large files once more would slow its upload for little."""
    register(bundles, {f"f{n:03}": os.urandom(100_000) for n in range(MIN_MEMBERS)})
    key = frames_key(sha256(manifest_of(bundles)))  # this download keeps them
    bundles.blobs.delete(key)
    register_again = bundles.registry.get("many")
    assert register_again.document["files"]
    assert read_frames(bundles.blobs, key) is None
    download(bundles)
    assert read_frames(bundles.blobs, key) is not None
