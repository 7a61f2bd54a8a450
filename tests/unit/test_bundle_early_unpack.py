"""Members stored while the upload streams in: taken by the job only when the stream told the truth.

Every hostile archive of ``test_bundle_hostile`` also goes through early unpacking (the
default); these tests pin what it adds: each member is written once, the job falls back to
copying when the stream and the central directory disagree, a zip bomb costs it a bounded
number of bytes, and nothing it wrote survives a failed or aborted upload.
"""

from __future__ import annotations

import io
import struct
import threading
import warnings
import zipfile
from collections.abc import Iterable, Iterator

import pytest

from assets_registry.adapters.filesystem import FilesystemBlobStore
from assets_registry.core.bundles import BundleLimits, UploadTooLarge
from assets_registry.core.bundles.early_unpack import EXPANSION_ALLOWANCE, EXPANSION_FACTOR, WRITER_THREAD_BYTES
from assets_registry.core.bundles.keys import file_key, manifest_key
from assets_registry.core.errors import BackendUnavailable
from assets_registry.core.ports import SUCCESS, BlobInfo
from assets_registry.testing import build_zip
from tests.unit.bundle_env import (
    ASSET_ID,
    Env,
    MiB,
    RecordingBlobStore,
    assert_left_nothing,
    assert_registered,
    asset_json,
    chunked,
    headers,
    payload,
    run,
    stored_files,
)


def recording(env: Env) -> RecordingBlobStore:
    return RecordingBlobStore(env.blob_root)


def members_written(store: RecordingBlobStore) -> dict[str, int]:
    return {key: n for key, n in store.written.items() if key.startswith("assets/")}


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_each_member_is_written_once_while_the_upload_streams(env: Env, compression: int) -> None:
    members = {"model.bin": payload(3 * MiB, seed=1), "nested/tokenizer.json": b'{"vocab": 1}', "empty.txt": b""}
    bundle = build_zip([("asset.json", asset_json()), *members.items()], compression)
    store = recording(env)
    bundles = env.make_bundles(blobs=store)
    job = bundles.stage(chunked(bundle, 256 * 1024))
    # before any job ran, the members are already in their blobs
    assert set(members_written(store)) == {file_key(job.upload_id, name) for name in members}
    assert manifest_key(job.staged_key) in stored_files(env.blob_root)
    store.written.clear()

    assert bundles.run_next("w") is not None
    final = bundles.status(job.upload_id)
    assert members_written(store) == {}, "the job copied members that were already stored"
    assert_registered(env, final, members)


def test_early_unpacking_can_be_turned_off(env: Env) -> None:
    members = {"model.bin": payload(MiB, seed=2)}
    store = recording(env)
    bundles = env.make_bundles(blobs=store)
    bundles.early_unpack = False
    job = bundles.stage([build_zip([("asset.json", asset_json()), *members.items()])])
    assert members_written(store) == {}
    assert manifest_key(job.staged_key) not in stored_files(env.blob_root)
    assert bundles.run_next("w") is not None
    assert set(members_written(store)) == {file_key(job.upload_id, "model.bin")}
    assert_registered(env, bundles.status(job.upload_id), members)


def drop_last_central_entry(data: bytes) -> bytes:
    """Remove the central directory's last entry (archives without ZIP64 records): its local entry stays, hidden."""
    end = data.rfind(b"PK\x05\x06")
    count, _size, start = struct.unpack_from("<HIL", data, end + 10)
    position, entries = start, []
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, position + 28)
        entries.append(position)
        position += 46 + name_len + extra_len + comment_len
    last = entries[-1]
    directory = data[start:last]
    record = bytearray(data[end:])
    struct.pack_into("<HHIL", record, 8, count - 1, count - 1, len(directory), start)
    return data[:start] + directory + bytes(record)


def test_a_local_entry_the_directory_does_not_list_is_not_taken(env: Env) -> None:
    """Two local entries named model.bin, the directory lists the first: the registered bytes are the first's."""
    real, smuggled = payload(4096, seed=3), payload(4096, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate name
        bundle = build_zip(
            [("asset.json", asset_json()), ("model.bin", real), ("model.bin", smuggled)], zipfile.ZIP_STORED
        )
    hidden = drop_last_central_entry(bundle)
    with zipfile.ZipFile(io.BytesIO(hidden)) as archive:
        assert [i.filename for i in archive.infolist()] == ["asset.json", "model.bin"]
        assert archive.read("model.bin") == real
    store = recording(env)
    bundles = env.make_bundles(blobs=store)
    job = bundles.stage([hidden])
    store.written.clear()
    assert bundles.run_next("w") is not None
    # early unpacking saw a stream unlike the directory: the job copied model.bin from the archive
    assert members_written(store) == {file_key(job.upload_id, "model.bin"): len(real)}
    assert_registered(env, bundles.status(job.upload_id), {"model.bin": real})


def test_a_member_whose_local_header_lies_about_its_crc_is_copied_from_the_directory(env: Env) -> None:
    """The stream's bytes match the local CRC, not the directory's: the job's copy decides (and fails)."""
    data = payload(5000, seed=5)
    bundle = build_zip([("asset.json", asset_json()), ("model.bin", data)], zipfile.ZIP_STORED)
    where = headers(bundle, "model.bin")
    patched = bytearray(bundle)
    patched[where.central + 16 : where.central + 20] = b"\x00\x00\x00\x00"  # the directory's CRC-32
    job = run(env.bundles, bytes(patched))
    assert job.status.startswith("failed: member model.bin is damaged"), job.status
    assert_left_nothing(env, job)


def test_a_zip_bomb_costs_early_unpacking_a_bounded_number_of_bytes(env: Env) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("asset.json", asset_json())
        with archive.open("bomb.bin", "w", force_zip64=True) as member:
            zeros = bytes(MiB)
            for _ in range(256):
                member.write(zeros)
    bomb = buffer.getvalue()
    store = recording(env)
    job = run(env.make_bundles(blobs=store), chunked(bomb))
    assert job.status.startswith("failed: member bomb.bin expands "), job.status
    written = sum(members_written(store).values())
    assert written <= EXPANSION_ALLOWANCE + EXPANSION_FACTOR * len(bomb) + MiB
    assert_left_nothing(env, job)


def test_an_upload_cut_off_by_the_size_limit_leaves_no_member_behind(env: Env) -> None:
    bundle = build_zip(
        [("asset.json", asset_json()), ("small.bin", payload(2 * MiB, seed=6)), ("big.bin", payload(6 * MiB, seed=7))],
        zipfile.ZIP_STORED,
    )
    store = recording(env)
    bundles = env.make_bundles(blobs=store, limits=BundleLimits(max_upload_bytes=5 * MiB))
    with pytest.raises(UploadTooLarge):
        bundles.stage(chunked(bundle, 256 * 1024))
    assert any(key.endswith("/small.bin") for key in members_written(store)), "small.bin was stored early"
    assert stored_files(env.blob_root) == set()


def test_a_torn_manifest_makes_the_job_copy_everything(env: Env) -> None:
    members = {"model.bin": payload(MiB, seed=8)}
    job = env.bundles.stage([build_zip([("asset.json", asset_json()), *members.items()])])
    env.blobs.put(manifest_key(job.staged_key), [b'{"names": ["asset.json", "model'])
    assert env.bundles.run_next("w") is not None
    final = env.bundles.status(job.upload_id)
    assert final.status == SUCCESS
    assert_registered(env, final, members)
    assert env.registry.get(ASSET_ID).document["files"][0]["asset_file_metadata"]["size"] == MiB


def test_a_failed_job_deletes_members_stored_early_under_names_the_directory_lacks(env: Env) -> None:
    """The local header names a file the directory does not list; after the job nothing remains."""
    bundle = build_zip([("asset.json", asset_json()), ("safe.bin", b"payload")], zipfile.ZIP_STORED)
    where = headers(bundle, "safe.bin")
    patched = bytearray(bundle)
    patched[where.local + 30 : where.local + 38] = b"evil.bin"
    store = recording(env)
    bundles = env.make_bundles(blobs=store)
    job = bundles.stage([bytes(patched)])
    assert file_key(job.upload_id, "evil.bin") in members_written(store)
    assert bundles.run_next("w") is not None
    assert_left_nothing(env, bundles.status(job.upload_id))


# -- the staged copy leaves out what stored members took ----------------------------------


def test_a_stored_members_bytes_are_written_once_not_staged_as_well(env: Env) -> None:
    big = payload(6 * MiB, seed=9)
    members = {"weights/model.bin": big, "small.txt": b"tiny"}
    bundle = build_zip([("asset.json", asset_json()), *members.items()], zipfile.ZIP_STORED)
    store = recording(env)
    bundles = env.make_bundles(blobs=store)
    job = bundles.stage(chunked(bundle, MiB))
    staged = store.written[job.staged_key]
    # only the chunks that hold more than the big member's data were staged: its edges, the rest
    assert staged < len(bundle) - len(big) + 2 * MiB, (staged, len(bundle))
    assert sum(members_written(store).values()) == len(big) + 4
    manifest = env.bundles.ingest.read_early(job.staged_key)
    assert manifest is not None and manifest.holes
    assert sum(h.length for h in manifest.holes) == len(bundle) - staged
    store.written.clear()
    assert bundles.run_next("w") is not None
    assert members_written(store) == {}
    assert_registered(env, bundles.status(job.upload_id), members)


def test_the_job_reads_through_the_holes_when_it_copies_a_member(env: Env) -> None:
    """Early unpacking stops at a later member; the job takes the first and copies the rest."""
    big = payload(4 * MiB, seed=10)
    squeezable = bytes(80 * MiB)  # deflates ~1000x: early unpacking gives up on it, the rules allow 200x...
    members = {"a/model.bin": big, "b/zeros.bin": squeezable, "c/after.bin": payload(3 * MiB, seed=11)}
    bundle = build_zip(
        [("asset.json", asset_json()), ("a/model.bin", big)], zipfile.ZIP_STORED
    )  # stored first member, then the rest appended deflated
    buffer = io.BytesIO(bundle)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("b/zeros.bin", squeezable)
        archive.writestr("c/after.bin", members["c/after.bin"])
    data = buffer.getvalue()
    limits = BundleLimits(max_ratio=2000)  # ...when the operator allows more than usual
    store = recording(env)
    bundles = env.make_bundles(blobs=store, limits=limits)
    job = bundles.stage(chunked(data, 256 * 1024))
    manifest = bundles.ingest.read_early(job.staged_key)
    assert manifest is not None and manifest.holes, "the stored member left holes"
    assert [m.name for m in manifest.members] == ["a/model.bin"], "early unpacking stopped at the zeros"
    store.written.clear()
    assert bundles.run_next("w") is not None
    final = bundles.status(job.upload_id)
    assert set(members_written(store)) == {file_key(job.upload_id, n) for n in ("b/zeros.bin", "c/after.bin")}
    assert_registered(env, final, members)


def test_a_hole_backed_member_the_directory_describes_otherwise_is_refused(env: Env) -> None:
    data = payload(2 * MiB, seed=12)
    bundle = build_zip([("asset.json", asset_json()), ("model.bin", data)], zipfile.ZIP_STORED)
    where = headers(bundle, "model.bin")
    patched = bytearray(bundle)
    patched[where.central + 16 : where.central + 20] = b"\x00\x00\x00\x00"  # the directory's CRC-32
    store = recording(env)
    job = run(env.make_bundles(blobs=store), chunked(bytes(patched), 128 * 1024))
    assert job.status.startswith("failed: member model.bin: the archive's local entries disagree"), job.status
    assert_left_nothing(env, job)


def test_a_stored_member_damaged_mid_stream_fails_the_job_and_leaves_nothing(env: Env) -> None:
    data = payload(2 * MiB, seed=13)
    bundle = build_zip([("asset.json", asset_json()), ("model.bin", data)], zipfile.ZIP_STORED)
    where = headers(bundle, "model.bin")
    patched = bytearray(bundle)
    middle = where.local + 30 + len("model.bin") + MiB
    patched[middle] ^= 0xFF  # the data no longer has the CRC-32 both headers record
    job = run(env.bundles, chunked(bytes(patched), 128 * 1024))
    assert job.status.startswith("failed: member model.bin could not be unpacked"), job.status
    assert_left_nothing(env, job)


def test_an_aborted_upload_deletes_the_blobs_that_held_its_holes(env: Env) -> None:
    bundle = build_zip([("asset.json", asset_json()), ("model.bin", payload(3 * MiB, seed=14))], zipfile.ZIP_STORED)

    def cut_off() -> Iterator[bytes]:
        yield from chunked(bundle[: 2 * MiB], 128 * 1024)
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        env.bundles.stage(cut_off())
    assert stored_files(env.blob_root) == set()


def test_a_large_member_is_stored_by_a_thread_of_its_own(env: Env) -> None:
    big = payload(WRITER_THREAD_BYTES + 3 * MiB, seed=15)
    members = {"weights/model.bin": big, "small.txt": b"tiny"}
    bundle = build_zip([("asset.json", asset_json()), *members.items()], zipfile.ZIP_STORED)
    threads: set[str] = set()

    class Watching(RecordingBlobStore):
        def put(self, key: str, chunks: Iterable[bytes], transient: bool = False) -> BlobInfo:
            threads.add(f"{key.rsplit('/', 1)[-1]} in {threading.current_thread().name.split('-')[0]}")
            return super().put(key, chunks, transient)

    store = Watching(env.blob_root)
    bundles = env.make_bundles(blobs=store)
    job = bundles.stage(chunked(bundle, MiB))
    assert {"model.bin in store", "small.txt in early"} <= threads
    manifest = bundles.ingest.read_early(job.staged_key)
    assert manifest is not None and manifest.holes
    store.written.clear()
    assert bundles.run_next("w") is not None
    assert members_written(store) == {}
    assert_registered(env, bundles.status(job.upload_id), members)


class BrokenDisk(FilesystemBlobStore):
    """A store whose disk fills up while it writes a member's blob."""

    def put(self, key: str, chunks: Iterable[bytes], transient: bool = False) -> BlobInfo:
        if not key.endswith("model.bin"):
            return super().put(key, chunks, transient)

        def failing() -> Iterator[bytes]:
            for n, chunk in enumerate(chunks):
                if n == 3:
                    raise BackendUnavailable("blob store", "the disk is full")
                yield chunk

        return super().put(key, failing(), transient)


@pytest.mark.parametrize("size", [4 * MiB, WRITER_THREAD_BYTES + MiB], ids=["in line", "in its own thread"])
def test_a_member_blob_that_cannot_be_written_fails_the_upload_and_leaves_nothing(env: Env, size: int) -> None:
    """Its bytes are neither in a blob nor staged (holes): the upload itself must fail, 503."""
    bundle = build_zip(
        [("asset.json", asset_json()), ("model.bin", payload(size, seed=16)), ("after.bin", payload(8 * MiB, seed=17))],
        zipfile.ZIP_STORED,
    )
    bundles = env.make_bundles(blobs=BrokenDisk(env.blob_root))
    offered = 0

    def counted() -> Iterator[bytes]:
        nonlocal offered
        for chunk in chunked(bundle, 256 * 1024):
            offered += len(chunk)
            yield chunk

    with pytest.raises(BackendUnavailable, match="disk is full"):
        bundles.stage(counted())
    assert offered < len(bundle) - 4 * MiB, "the upload stopped soon after the failure, not at its end"
    assert stored_files(env.blob_root) == set()
