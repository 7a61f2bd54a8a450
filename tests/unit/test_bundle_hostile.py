"""Hostile and awkward ZIP bundles, run end to end over the real embedded adapters.

Every bundle is staged into a ``FilesystemBlobStore`` and run by ``Bundles.run_next`` over
SQLite metadata and jobs, all in ``tmp_path``. A refused bundle must end with the exact
``failed: <reason>`` of ``core.bundles.rules`` and leave nothing behind: no asset, no staged
archive, no member blob, nothing in the store's ``.partial`` folder. Accepted bundles must
register an asset whose every file points at a blob holding exactly the member's bytes.
"""

from __future__ import annotations

import io
import json
import logging
import random
import stat
import threading
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assets_registry.adapters.filesystem import FilesystemBlobStore
from assets_registry.core.bundles import BundleLimits, Bundles, JobSettings
from assets_registry.core.bundles.attempts import Attempt
from assets_registry.core.bundles.keys import file_key, manifest_key
from assets_registry.core.filters import compile_filter
from assets_registry.core.ports import PROCESSING, SUCCESS, BlobInfo, Document, UploadJob
from assets_registry.testing import Member, build_zip, write_zip
from tests.unit.bundle_env import (
    ASSET_ID,
    Env,
    MiB,
    RecordingBlobStore,
    assert_left_nothing,
    assert_partial_empty,
    assert_registered,
    asset_json,
    blob_bytes,
    chunked,
    disk_bytes,
    headers,
    info,
    make_env,
    model_bundle,
    patch_member,
    payload,
    raw_deflate,
    raw_deflated_zip,
    rename_member,
    run,
    stored_files,
)

# -- not an archive ------------------------------------------------------------------------


def test_random_bytes_are_not_a_zip(env: Env) -> None:
    job = run(env.bundles, random.Random(7).randbytes(8192))
    assert job.status.startswith("failed: the upload is not a readable ZIP archive")
    assert_left_nothing(env, job)


def test_truncated_zip_is_not_readable(env: Env) -> None:
    whole = model_bundle(model=payload(50_000))
    job = run(env.bundles, whole[: len(whole) // 2])
    assert job.status.startswith("failed: the upload is not a readable ZIP archive")
    assert_left_nothing(env, job)


@pytest.mark.parametrize("size", [0, 2, 21, 100])
def test_a_file_too_short_for_a_zip_directory_says_so_without_offsets(env: Env, size: int) -> None:
    job = run(env.bundles, b"PK\x03\x04" + b"x" * size)
    assert job.status.startswith("failed: the upload is not a readable ZIP archive ("), job.status
    assert "seek" not in job.status and not any(ch.isdigit() for ch in job.status.replace("CRC-32", "")), job.status
    assert_left_nothing(env, job)


# -- asset.json ----------------------------------------------------------------------------


def test_asset_json_missing(env: Env) -> None:
    job = run(env.bundles, build_zip([("model.bin", b"weights"), ("docs/asset.json", asset_json())]))
    assert job.status.startswith("failed: asset.json is missing")
    assert_left_nothing(env, job)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b'{"asset_id": "zip-1",', "failed: asset.json is not valid JSON: Input", id="not-json"),
        pytest.param(b"  ", "failed: asset.json is empty; send a JSON document", id="empty"),
        pytest.param(b"\xff\xfe{}", "failed: asset.json is not valid JSON: JSON is malformed", id="not-utf8"),
        pytest.param(b'["zip-1"]', "failed: asset.json must hold a JSON object", id="array"),
        pytest.param(b'{"asset_uri": "models://x"}', "failed: asset.json has no asset_id string", id="no-asset-id"),
        pytest.param(b'{"asset_id": 7}', "failed: asset.json has no asset_id string", id="asset-id-not-string"),
        pytest.param(asset_json("a/b"), "failed: asset.json: asset_id 'a/b' must not contain '/'", id="id-a/b"),
    ],
)
def test_unusable_asset_json(env: Env, content: bytes, expected: str) -> None:
    job = run(env.bundles, build_zip([("asset.json", content), ("model.bin", b"weights")]))
    assert job.status.startswith(expected), job.status
    assert "JSON: not valid JSON" not in job.status, "said once"
    assert_left_nothing(env, job)


def test_asset_json_invalid_per_the_model(env: Env) -> None:
    document = json.loads(asset_json())
    document["profiles"][0]["asset_type"] = 5
    job = run(env.bundles, build_zip([("asset.json", json.dumps(document).encode()), ("model.bin", b"weights")]))
    assert job.status == "failed: asset.json is invalid: profiles[0].asset_type: expected str, got int"
    assert_left_nothing(env, job)


def test_files_entry_naming_a_file_not_in_the_archive(env: Env) -> None:
    files = [{"asset_file_id": "weights.bin"}, {"asset_file_id": "model.bin"}]
    bundle = build_zip([("asset.json", asset_json(files=files)), ("weights.bin", b"weights")])
    job = run(env.bundles, bundle)
    assert job.status == "failed: files[1] model.bin is not in the archive"
    assert_left_nothing(env, job)


def test_asset_file_ids_naming_a_file_not_in_the_archive(env: Env) -> None:
    listed = ["weights.bin", "missing.bin"]
    bundle = build_zip([("asset.json", asset_json(asset_file_ids=listed)), ("weights.bin", b"weights")])
    job = run(env.bundles, bundle)
    assert job.status == "failed: asset_file_ids[1] missing.bin is not in the archive"
    assert_left_nothing(env, job)


def test_asset_json_larger_than_the_limit(env: Env) -> None:
    bundles = env.make_bundles(limits=BundleLimits(max_asset_json_bytes=100))
    document = asset_json(asset_brief_description="x" * 200)
    job = run(bundles, build_zip([("asset.json", document), ("model.bin", b"weights")]))
    assert job.status == "failed: asset.json is larger than 100 bytes"
    assert_left_nothing(env, job)


# -- member names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        pytest.param("../x", "failed: member ../x escapes the archive", id="dot-dot"),
        pytest.param("/etc/passwd", "failed: member /etc/passwd escapes the archive", id="absolute"),
        pytest.param("a/../../b", "failed: member a/../../b escapes the archive", id="climbing"),
        pytest.param("C:/x", "failed: member C:/x escapes the archive", id="windows-drive"),
        pytest.param(
            "a\\b.bin", "failed: member a\\b.bin has a backslash in its name (use '/' between folders)", id="backslash"
        ),
        pytest.param("a\x00b.bin", "failed: member 'a\\x00b.bin' has a NUL character in its name", id="nul"),
        pytest.param("a\x01b.bin", "failed: member 'a\\x01b.bin' has a control character in its name", id="control"),
        pytest.param("a\nb.bin", "failed: member 'a\\nb.bin' has a control character in its name", id="newline"),
        pytest.param("a\x7fb.bin", "failed: member 'a\\x7fb.bin' has a control character in its name", id="delete"),
    ],
)
def test_hostile_member_name(env: Env, hostile: str, expected: str) -> None:
    placeholder = "Q" * len(hostile.encode())
    bundle = build_zip([("asset.json", asset_json()), ("good.bin", b"good"), (placeholder, b"evil")])
    bundle = rename_member(bundle, placeholder, hostile)
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:  # the archive itself reads fine
        assert archive.infolist()[-1].orig_filename == hostile
    job = run(env.bundles, bundle)
    assert job.status == expected
    assert_left_nothing(env, job)


@pytest.mark.parametrize(
    "path",
    ["a//b.bin", "./a.bin", "a/./b.bin"],
    ids=["empty-segment", "dot", "inner-dot"],
)
def test_member_path_that_cannot_be_a_file_id(env: Env, path: str, caplog: pytest.LogCaptureFixture) -> None:
    bundle = build_zip([("asset.json", asset_json()), ("good.bin", b"good"), (info(path), b"evil")])
    job = run(env.bundles, bundle)
    assert job.status.startswith(f"failed: member {path} cannot be a file of the asset: its path "), job.status
    assert_left_nothing(env, job)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [], "no blob under a bad key"


def test_folder_entry_carrying_data_is_skipped(env: Env) -> None:
    """A name ending in '/' is a folder entry whatever it holds: skipped, never stored."""
    bundle = build_zip([("asset.json", asset_json()), ("good.bin", b"good"), (info("hidden/"), b"smuggled")])
    assert_registered(env, run(env.bundles, bundle), {"good.bin": b"good"})


def test_central_directory_and_local_header_disagree_on_the_name(env: Env) -> None:
    bundle = build_zip([("asset.json", asset_json()), ("good.bin", b"good"), ("safe.bin", b"payload")])
    where = headers(bundle, "safe.bin")
    patched = bytearray(bundle)
    patched[where.local + 30 : where.local + 38] = b"evil.bin"  # the local header now names another file
    job = run(env.bundles, bytes(patched))
    assert job.status.startswith("failed: member safe.bin is damaged"), job.status
    assert_left_nothing(env, job)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(("a", "a/b"), "failed: member a/b lies inside a, which is a file", id="file-first"),
        pytest.param(("a/b", "a"), "failed: member a/b lies inside a, which is a file", id="folder-first"),
        pytest.param(("x/y", "x/y/z/w"), "failed: member x/y/z/w lies inside x/y, which is a file", id="deep"),
    ],
)
def test_member_that_is_both_a_file_and_a_folder(env: Env, names: tuple[str, str], expected: str) -> None:
    """``a`` and ``a/b`` are a legal ZIP but no file system can hold both: refused before anything is written."""
    bundle = build_zip([("asset.json", asset_json()), ("good.bin", b"good"), *((name, b"x") for name in names)])
    job = run(env.bundles, bundle)
    assert job.status == expected
    assert job.progress is None or job.progress["files_done"] == 0
    assert_left_nothing(env, job)


LONG_SEGMENT = "a folder or file name in its path is longer than 255 bytes"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        pytest.param("n" * 300 + ".bin", "a folder or file name in its path is longer than 255 bytes", id="long-name"),
        pytest.param(
            "é" * 130 + "/x.bin", "a folder or file name in its path is longer than 255 bytes", id="long-utf8"
        ),
    ],
)
def test_member_name_too_long_for_the_blob_store(
    env: Env, name: str, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A valid file id (up to 1024 characters) that no blob store can hold: refused before a blob is written."""
    bundle = build_zip([("asset.json", asset_json()), ("good.bin", b"good"), (name, b"x")])
    job = run(env.bundles, bundle)
    assert job.status == f"failed: member {name} cannot be stored: {why}", job.status
    assert_left_nothing(env, job)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [], "no blob under a bad key"


# -- member kinds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        pytest.param(0o120777, "failed: member link is a symbolic link", id="symlink"),
        pytest.param(stat.S_IFIFO | 0o644, "failed: member link is not a regular file", id="fifo"),
        pytest.param(stat.S_IFCHR | 0o644, "failed: member link is not a regular file", id="device"),
    ],
)
def test_non_regular_member(env: Env, mode: int, expected: str) -> None:
    link = info("link", external_attr=mode << 16)
    job = run(env.bundles, build_zip([("asset.json", asset_json()), ("good.bin", b"good"), (link, b"/etc/passwd")]))
    assert job.status == expected
    assert_left_nothing(env, job)


def test_duplicate_member_names(env: Env) -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        bundle = build_zip([("asset.json", asset_json()), ("model.bin", b"one"), ("model.bin", b"two")])
    job = run(env.bundles, bundle)
    assert job.status == "failed: member model.bin appears twice in the archive"
    assert_left_nothing(env, job)


def test_encrypted_member(env: Env) -> None:
    bundle = build_zip([("asset.json", asset_json()), ("good.bin", b"good"), ("secret.bin", b"secret")])
    bundle = patch_member(bundle, "secret.bin", add_flags=0x1)
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert archive.getinfo("secret.bin").flag_bits & 0x1
    job = run(env.bundles, bundle)
    assert job.status == "failed: member secret.bin is encrypted"
    assert_left_nothing(env, job)


@pytest.mark.parametrize("method", [9, 98, 99], ids=["deflate64", "ppmd", "aes"])
def test_unsupported_compression_method(env: Env, method: int) -> None:
    bundle = build_zip([("asset.json", asset_json()), ("good.bin", b"good"), ("odd.bin", b"odd" * 100)])
    bundle = patch_member(bundle, "odd.bin", method=method)
    job = run(env.bundles, bundle)
    assert job.status.startswith(f"failed: member odd.bin uses compression method {method};"), job.status
    assert "compression method" in job.status
    assert_left_nothing(env, job)


# -- limits and bombs ----------------------------------------------------------------------


def test_too_many_members(env: Env) -> None:
    bundles = env.make_bundles(limits=BundleLimits(max_members=2))
    members: list[Member] = [("asset.json", asset_json()), *((f"f{i}.bin", b"x") for i in range(3))]
    job = run(bundles, build_zip(members))
    assert job.status == "failed: the archive has 4 members; at most 2 files are accepted"
    assert_left_nothing(env, job)


def test_members_up_to_the_limit_are_accepted(env: Env) -> None:
    bundles = env.make_bundles(limits=BundleLimits(max_members=2))
    members = {"f0.bin": b"0", "f1.bin": b"1"}
    job = run(bundles, build_zip([("asset.json", asset_json()), *members.items()]))
    assert_registered(env, job, members)


def test_total_unpacked_size_over_the_limit(env: Env) -> None:
    bundles = env.make_bundles(limits=BundleLimits(max_unpacked_bytes=10_000))
    members: list[Member] = [("asset.json", asset_json()), ("a.bin", payload(6_000)), ("b.bin", payload(6_000, 2))]
    job = run(bundles, build_zip(members))
    assert job.status == "failed: the archive unpacks to more than 10000 bytes, the most accepted"
    assert_left_nothing(env, job)


def test_one_gibibyte_bomb_is_refused_fast_without_unpacking(env: Env) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("asset.json", asset_json())
        with archive.open("bomb.bin", "w", force_zip64=True) as member:
            zeros = bytes(MiB)
            for _ in range(1024):
                member.write(zeros)
    bomb = buffer.getvalue()
    assert len(bomb) < 2 * MiB
    started = time.monotonic()
    job = run(env.bundles, chunked(bomb))
    elapsed = time.monotonic() - started
    assert job.status.startswith("failed: member bomb.bin expands "), job.status
    assert "expands" in job.status
    assert elapsed < 2.0
    assert job.progress is None or job.progress["bytes_done"] <= MiB
    assert disk_bytes(env.blob_root) == 0
    assert_left_nothing(env, job)


def test_many_member_bomb_trips_the_whole_archive_ratio(env: Env) -> None:
    limits = BundleLimits()
    size = limits.ratio_applies_above  # each member alone is too small for the per-member check
    zeros = bytes(size)
    compressed, crc = raw_deflate(zeros), zlib.crc32(zeros)
    document = asset_json()
    entries = [("asset.json", raw_deflate(document), zlib.crc32(document), len(document))]
    entries += [(f"part-{i:04}.bin", compressed, crc, size) for i in range(2000)]
    bomb = raw_deflated_zip(entries)
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:  # a well-formed archive that really holds 2000 MiB
        assert archive.read("part-1999.bin") == zeros
        assert sum(i.file_size for i in archive.infolist()) > 2000 * size
    started = time.monotonic()
    job = run(env.make_bundles(limits=limits), chunked(bomb))
    assert time.monotonic() - started < 2.0
    assert job.status.startswith("failed: the archive expands "), job.status
    assert job.progress is None or job.progress["bytes_done"] <= MiB
    assert_left_nothing(env, job)


# -- damaged data --------------------------------------------------------------------------


def test_corrupted_stored_member_fails_its_crc(env: Env) -> None:
    data = b"STORED-PAYLOAD-" * 1000
    bundle = build_zip(
        [("asset.json", asset_json()), ("good.bin", payload(300_000)), ("model.bin", data)], zipfile.ZIP_STORED
    )
    start = bundle.index(data)
    assert bundle.count(data) == 1
    flipped = bytearray(bundle)
    flipped[start + 5000] ^= 0xFF
    job = run(env.bundles, bytes(flipped))
    assert job.status.startswith("failed: member model.bin is damaged"), job.status
    assert "CRC" in job.status
    assert_left_nothing(env, job)


def test_declared_size_smaller_than_the_data(env: Env) -> None:
    real = payload(200_000, seed=3)
    bundle = build_zip([("asset.json", asset_json()), ("good.bin", b"good"), ("model.bin", real)])
    bundle = patch_member(bundle, "model.bin", central_file_size=1000)
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert archive.getinfo("model.bin").file_size == 1000
    recording = RecordingBlobStore(env.blob_root)
    job = run(env.make_bundles(blobs=recording), bundle)
    assert job.status.startswith("failed: member model.bin is damaged"), job.status
    assert "CRC" in job.status
    assert recording.written[file_key(job.upload_id, "model.bin")] <= 1000
    assert_left_nothing(env, job)


# -- the asset id --------------------------------------------------------------------------


def test_asset_id_that_already_exists(env: Env) -> None:
    first = run(env.bundles, model_bundle(model=b"original" * 50))
    original = env.registry.get(ASSET_ID)
    kept = stored_files(env.blob_root)
    kept_bytes = {path: (env.blob_root / path).read_bytes() for path in kept}
    assert kept == {file_key(first.upload_id, "model.bin")}

    job = run(env.bundles, build_zip([("asset.json", asset_json()), ("model.bin", b"intruder"), ("x.bin", b"x")]))
    assert job.status == "failed: asset zip-1 already exists"
    after = env.registry.get(ASSET_ID)
    assert after.document == original.document
    assert after.revision == original.revision == 1
    assert env.store.find(compile_filter({}), 10).documents == [original.document]
    assert stored_files(env.blob_root) == kept
    assert {path: (env.blob_root / path).read_bytes() for path in kept} == kept_bytes
    assert blob_bytes(env, after.document["files"][0]["asset_file_url"]) == b"original" * 50
    assert_partial_empty(env)


@pytest.mark.parametrize("same_document", [True, False], ids=["identical-document", "other-document"])
def test_files_less_bundle_for_an_asset_someone_else_created(env: Env, same_document: bool) -> None:
    """A first attempt cannot have registered anything: an existing asset is someone else's, whatever it holds."""
    existing = json.loads(asset_json())
    if not same_document:
        existing["asset_brief_description"] = "posted through /assets"
    original = env.registry.create(existing)
    job = run(env.bundles, build_zip([("asset.json", asset_json())]))
    assert job.attempts == 1
    assert job.status == f"failed: asset {ASSET_ID} already exists"
    after = env.registry.get(ASSET_ID)
    assert after.document == original.document
    assert after.revision == original.revision == 1
    assert stored_files(env.blob_root) == set()
    assert_partial_empty(env)


def test_two_uploads_racing_for_one_asset_id(env: Env, tmp_path: Path) -> None:
    other = make_env(tmp_path)  # a second worker process: its own connections and stores on the same files
    try:
        contents = {
            "a": {f"part-{i}.bin": payload(200_000, seed=10 + i) for i in range(4)},
            "b": {f"part-{i}.bin": payload(200_000, seed=20 + i) for i in range(4)},
        }
        jobs = {
            side: env.bundles.stage([build_zip([("asset.json", asset_json()), *members.items()])])
            for side, members in contents.items()
        }
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def work(bundles: Bundles, worker: str) -> None:
            try:
                barrier.wait(timeout=10)
                assert bundles.run_next(worker) is not None
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=work, args=(env.bundles, "w1")),
            threading.Thread(target=work, args=(other.bundles, "w2")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []

        statuses = {side: env.bundles.status(job.upload_id) for side, job in jobs.items()}
        winners = [side for side, job in statuses.items() if job.status == SUCCESS]
        assert len(winners) == 1, statuses
        winner = winners[0]
        loser = "b" if winner == "a" else "a"
        assert statuses[loser].status == f"failed: asset {ASSET_ID} already exists"

        document = assert_registered(env, statuses[winner], contents[winner])
        assert env.store.find(compile_filter({}), 10).documents == [document]
        loser_folder = env.blob_root / "assets" / jobs[loser].upload_id
        assert stored_files(loser_folder) == set()
    finally:
        other.close()


# -- accepted bundles ----------------------------------------------------------------------


def test_single_wrapper_folder(env: Env) -> None:
    bundle = build_zip([("bundle/asset.json", asset_json()), ("bundle/model.bin", b"weights")])
    job = run(env.bundles, bundle)
    document = assert_registered(env, job, {"model.bin": b"weights"}, folder="bundle/")
    assert document["asset_file_ids"] == ["model.bin"]


def test_finder_style_archive_skips_macos_junk_and_folders(env: Env) -> None:
    bundle = build_zip(
        [
            ("bundle/", b""),
            ("bundle/asset.json", asset_json()),
            ("bundle/model.bin", b"weights"),
            ("bundle/.DS_Store", b"\x00\x00\x00\x01Bud1"),
            ("bundle/docs/", b""),
            ("bundle/docs/readme.md", b"# read me"),
            ("bundle/docs/.DS_Store", b"junk"),
            ("__MACOSX/", b""),
            ("__MACOSX/bundle/", b""),
            ("__MACOSX/bundle/._model.bin", b"\x00\x05\x16\x07resource fork"),
            ("__MACOSX/bundle/._asset.json", b"\x00\x05\x16\x07resource fork"),
        ]
    )
    job = run(env.bundles, bundle)
    assert_registered(env, job, {"model.bin": b"weights", "docs/readme.md": b"# read me"}, folder="bundle/")


def test_folder_entries_are_skipped_and_empty_members_stored(env: Env) -> None:
    bundle = build_zip(
        [("asset.json", asset_json()), ("docs/", b""), ("docs/empty.txt", b""), ("empty.bin", b""), ("a.bin", b"a")]
    )
    job = run(env.bundles, bundle)
    assert_registered(env, job, {"docs/empty.txt": b"", "empty.bin": b"", "a.bin": b"a"})


@pytest.mark.parametrize(
    "method",
    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
    ids=["stored", "deflate", "bzip2", "lzma"],
)
def test_every_supported_compression_method(env: Env, method: int) -> None:
    members = {"model.bin": payload(300_000, seed=5) + bytes(100_000), "empty.txt": b"", "notes.txt": b"hello"}
    bundle = build_zip([("asset.json", asset_json()), *members.items()], method)
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        assert {i.compress_type for i in archive.infolist()} == {method}
    job = run(env.bundles, chunked(bundle, 4096))
    assert_registered(env, job, members)


def test_unicode_and_nested_names(env: Env) -> None:
    members = {"模型/权重 v1.bin": b"weights", "a/b/c/d e+f%20.txt": b"deep", "café.json": b"{}"}
    job = run(env.bundles, build_zip([("asset.json", asset_json()), *members.items()]))
    document = assert_registered(env, job, members)
    files = {f["asset_file_id"]: f for f in document["files"]}
    key = env.blobs.key_for_url(files["模型/权重 v1.bin"]["asset_file_url"])
    assert key == f"assets/{job.upload_id}/模型/权重 v1.bin"
    assert (env.blob_root / "assets" / job.upload_id / "模型" / "权重 v1.bin").read_bytes() == b"weights"


def test_unlisted_members_are_described_and_listed_once(env: Env) -> None:
    described = {
        "asset_file_id": "model.bin",
        "asset_file_type": "weights",
        "asset_file_mime_type": "application/x-weights",
        "asset_file_url": "s3://ignored/model.bin",
        "asset_file_metadata": {"framework": "torch"},
    }
    document = asset_json(files=[described], asset_file_ids=["model.bin"])
    members = {
        "model.bin": payload(10_000),
        "config.json": b'{"layers": 2}',
        "readme.txt": b"read me",
        "data/table.csv": b"a,b\n1,2\n",
        "blob.unknownext": b"?",
    }
    dated = [(info(path), data) for path, data in members.items()]
    job = run(env.bundles, build_zip([("asset.json", document), *dated]))
    stored = assert_registered(env, job, members)
    assert stored["asset_file_ids"][0] == "model.bin"
    files = {f["asset_file_id"]: f for f in stored["files"]}
    model = files["model.bin"]
    assert model["asset_file_type"] == "weights"
    assert model["asset_file_mime_type"] == "application/x-weights"
    assert model["asset_file_metadata"]["framework"] == "torch"
    assert model["asset_file_url"] != "s3://ignored/model.bin"
    mimes = {
        "config.json": "application/json",
        "readme.txt": "text/plain",
        "data/table.csv": "text/csv",
        "blob.unknownext": "application/octet-stream",
    }
    for path, mime in mimes.items():
        assert files[path]["asset_file_type"] == "file"
        assert files[path]["asset_file_mime_type"] == mime
        assert files[path]["asset_file_metadata"]["modified"] == "2024-05-06T07:08:10"


class NonSeekable(io.RawIOBase):
    """A pipe-like output: zipfile then writes data descriptors (flag bit 3) after each member."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, chunk: Any) -> int:
        self.data += bytes(chunk)
        return len(chunk)


def test_streamed_archive_with_data_descriptors(env: Env) -> None:
    members = {"model.bin": payload(100_000, seed=8), "empty.txt": b""}
    out = NonSeekable()
    write_zip(out, [("asset.json", asset_json()), *members.items()])  # type: ignore[arg-type]
    bundle = bytes(out.data)
    with zipfile.ZipFile(io.BytesIO(bundle)) as check:
        assert all(i.flag_bits & 0x8 for i in check.infolist())
    assert_registered(env, run(env.bundles, bundle), members)


def test_zip64_members(env: Env) -> None:
    members = {"model.bin": payload(50_000, seed=9), "b.bin": b"b"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("asset.json", asset_json())
        for path, data in members.items():
            with archive.open(path, "w", force_zip64=True) as member:
                member.write(data)
    assert_registered(env, run(env.bundles, buffer.getvalue()), members)


def test_asset_json_alone(env: Env) -> None:
    job = run(env.bundles, build_zip([("asset.json", asset_json())]))
    document = assert_registered(env, job, {})
    assert document["files"] == []
    assert document["asset_file_ids"] == []


# -- crashed workers -----------------------------------------------------------------------


class WorkerDied(BaseException):
    """A worker dying mid-job: not an ``Exception``, so nothing in the product handles it."""


class DyingBlobStore(FilesystemBlobStore):
    """The filesystem store of a worker that dies halfway through writing one member."""

    def __init__(self, root: Path, dies_on: str) -> None:
        super().__init__(root)
        self.dies_on = dies_on

    def put(self, key: str, chunks: Iterable[bytes], transient: bool = False) -> BlobInfo:
        if not key.endswith("/" + self.dies_on):
            return super().put(key, chunks, transient=transient)

        def dying() -> Iterator[bytes]:
            for chunk in chunks:
                yield chunk[: len(chunk) // 2]
                raise WorkerDied(key)

        return super().put(key, dying(), transient=transient)


CRASH_MEMBERS = {"a.bin": payload(150_000, seed=31), "b.bin": payload(150_000, seed=32), "c.json": b'{"k": 1}'}


def crash_bundle() -> bytes:
    """The same bytes on every call: fixed member dates, as a clean run is compared with a re-run."""
    members = [(info(path), data) for path, data in {"asset.json": asset_json(), **CRASH_MEMBERS}.items()]
    return build_zip(members)


def comparable(env: Env, document: Document) -> Document:
    """The document with each file's URL (which names the upload) replaced by the bytes it leads to."""
    files = [{**f, "asset_file_url": blob_bytes(env, f["asset_file_url"])} for f in document["files"]]
    return {**document, "files": files}


def clean_run_document(root: Path) -> Document:
    clean = make_env(root)
    try:
        job = run(clean.bundles, crash_bundle())
        return comparable(clean, assert_registered(clean, job, CRASH_MEMBERS))
    finally:
        clean.close()


LEASE = 0.2


def die_mid_stream(env: Env, max_attempts: int = 3) -> UploadJob:
    """Stage the crash bundle and let a worker die while writing its second member.

    Staged without early unpacking, so that the job copies every member itself.
    """
    env.bundles.early_unpack = False
    job = env.bundles.stage([crash_bundle()])
    dying = env.make_bundles(
        job_settings=JobSettings(lease_seconds=LEASE, max_attempts=max_attempts),
        blobs=DyingBlobStore(env.blob_root, "b.bin"),
    )
    with pytest.raises(WorkerDied):
        dying.run_next("dying")
    state = env.bundles.status(job.upload_id)
    assert state.status == PROCESSING
    # what the dead worker left: the staged archive and its first member, nothing half-written
    assert stored_files(env.blob_root) == {job.staged_key, file_key(job.upload_id, "a.bin")}
    time.sleep(LEASE * 1.5)
    return state


def test_rerun_after_a_claim_was_abandoned(env: Env, tmp_path: Path) -> None:
    env.bundles.early_unpack = False  # the job copies every member, over what the dead worker wrote
    job = env.bundles.stage([crash_bundle()])
    claimed = env.jobs.claim("dying", 0.05)
    assert claimed is not None
    assert claimed.upload_id == job.upload_id
    # the dead worker got as far as writing a wrong first blob
    env.blobs.put(file_key(job.upload_id, "a.bin"), [b"half of a"])
    time.sleep(0.15)
    final = run_next_to_end(env, job.upload_id)
    assert final.attempts == 2
    document = assert_registered(env, final, CRASH_MEMBERS)
    assert comparable(env, document) == clean_run_document(tmp_path / "clean")


def run_next_to_end(env: Env, upload_id: str, bundles: Bundles | None = None) -> UploadJob:
    ran = (bundles or env.bundles).run_next("w2")
    assert ran is not None
    assert ran.upload_id == upload_id
    final = env.bundles.status(upload_id)
    assert final.finished, final.status
    return final


def test_rerun_after_a_crash_while_streaming_members(env: Env, tmp_path: Path) -> None:
    crashed = die_mid_stream(env)
    final = run_next_to_end(env, crashed.upload_id)
    assert final.attempts == 2
    document = assert_registered(env, final, CRASH_MEMBERS)
    assert comparable(env, document) == clean_run_document(tmp_path / "clean")


def test_rerun_after_a_crash_after_registration(env: Env) -> None:
    job = env.bundles.stage([crash_bundle()])
    claimed = env.jobs.claim("dying", LEASE)
    assert claimed is not None
    attempt = Attempt.of_job(claimed, "dying", env.jobs, LEASE)
    assert env.bundles.ingest.run(attempt) == ASSET_ID  # registered, but the worker dies before finishing
    assert env.bundles.status(job.upload_id).status == PROCESSING
    registered = env.registry.get(ASSET_ID)
    time.sleep(LEASE * 1.5)
    final = run_next_to_end(env, job.upload_id)
    assert final.status == SUCCESS
    assert final.asset_id == ASSET_ID
    after = env.registry.get(ASSET_ID)
    assert after.document == registered.document
    assert after.revision == registered.revision == 1
    assert_registered(env, final, CRASH_MEMBERS)


def test_gives_up_after_max_attempts_when_a_worker_died_mid_stream(env: Env) -> None:
    crashed = die_mid_stream(env, max_attempts=1)
    giving_up = env.make_bundles(job_settings=JobSettings(max_attempts=1))
    final = run_next_to_end(env, crashed.upload_id, giving_up)
    assert final.status.startswith("failed: the upload was interrupted"), final.status
    assert final.status.startswith("failed: the upload was interrupted 1 times")
    assert_left_nothing(env, final)


def test_gives_up_after_max_attempts_when_leases_expired_twice(env: Env) -> None:
    job = env.bundles.stage([crash_bundle()])
    for worker in ("dying-1", "dying-2"):
        claimed = env.jobs.claim(worker, 0.05)
        assert claimed is not None
        assert claimed.upload_id == job.upload_id
        env.blobs.put(file_key(job.upload_id, "a.bin"), [b"half of a"])
        time.sleep(0.1)
    giving_up = env.make_bundles(job_settings=JobSettings(max_attempts=1))
    final = run_next_to_end(env, job.upload_id, giving_up)
    assert final.attempts == 3
    assert final.status.startswith("failed: the upload was interrupted 2 times"), final.status
    assert_left_nothing(env, final)


def test_gives_up_but_keeps_an_asset_an_attempt_registered(env: Env) -> None:
    job = env.bundles.stage([crash_bundle()])
    claimed = env.jobs.claim("dying", 0.05)
    assert claimed is not None
    assert env.bundles.ingest.run(Attempt.of_job(claimed, "dying", env.jobs, 0.05)) == ASSET_ID
    registered = env.registry.get(ASSET_ID)
    time.sleep(0.15)
    giving_up = env.make_bundles(job_settings=JobSettings(max_attempts=1))
    final = run_next_to_end(env, job.upload_id, giving_up)
    assert final.attempts == 2
    assert final.status == SUCCESS
    assert final.asset_id == ASSET_ID
    assert env.registry.get(ASSET_ID) == registered
    assert_registered(env, final, CRASH_MEMBERS)


class DiesDeletingStaging(FilesystemBlobStore):
    """The store of a worker that dies as it starts cleaning up the staged archive."""

    def delete(self, key: str) -> None:
        if key.startswith("staging/"):
            raise WorkerDied(key)
        super().delete(key)


def test_a_worker_dying_while_deleting_the_staged_archive_leaves_the_job_finished(env: Env) -> None:
    job = env.bundles.stage([crash_bundle()])
    dying = env.make_bundles(job_settings=JobSettings(lease_seconds=LEASE), blobs=DiesDeletingStaging(env.blob_root))
    with pytest.raises(WorkerDied):
        dying.run_next("dying")
    final = env.bundles.status(job.upload_id)
    assert final.status == SUCCESS, "the ending was recorded before the cleanup began"
    time.sleep(LEASE * 1.5)
    assert env.bundles.run_next("w2") is None, "a finished job is never run again"
    # the price of that order: the archive the dead worker was deleting stays behind
    stray = {job.staged_key, manifest_key(job.staged_key)}
    assert stray <= stored_files(env.blob_root)
    for key in stray:
        env.blobs.delete(key)
    assert_registered(env, final, CRASH_MEMBERS)


def test_a_worker_that_lost_its_job_leaves_the_staged_archive_to_the_new_holder(env: Env) -> None:
    job = env.bundles.stage([crash_bundle()])
    slow = env.jobs.claim("slow", 0.05)
    assert slow is not None
    time.sleep(0.1)
    taken = env.jobs.claim("fast", 60)  # the slow worker's lease ran out
    assert taken is not None
    assert taken.upload_id == job.upload_id
    env.bundles.process(slow, "slow")  # the slow worker carries on, unaware, and cannot finish
    assert job.staged_key in stored_files(env.blob_root)
    env.bundles.process(taken, "fast")
    final = env.bundles.status(job.upload_id)
    assert final.status == SUCCESS
    assert_registered(env, final, CRASH_MEMBERS)
