"""The embedded filesystem blob store: the port contract, and a root no key can reach outside of."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from assets_registry.adapters.filesystem import FilesystemBlobStore
from assets_registry.core.errors import BackendUnavailable, BlobNotFound
from assets_registry.core.ports import BlobStore
from assets_registry.plugins.store_helpers import InvalidBlobKey
from assets_registry.testing import BlobStoreContract

FORK = multiprocessing.get_context("fork")
ROUNDS = 2000


class TestFilesystemBlobStore(BlobStoreContract):
    @pytest.fixture
    def blobs(self, tmp_path: Path) -> BlobStore:
        return FilesystemBlobStore(tmp_path / "blobs")


# -- filesystem blobs: the root is a wall ---------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["", "../escape", "a/../../escape", "/etc/passwd", "a\\b", "a\x00b", "a//b", "./a", "a/", ".partial/x",
     "x" * 300, "tab\there"],
)  # fmt: skip
def test_hostile_keys_are_refused(tmp_path: Path, key: str) -> None:
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    for attempt in (
        lambda: blobs.put(key, [b"x"]),
        lambda: b"".join(blobs.read(key)),
        lambda: blobs.stat(key),
        lambda: blobs.delete(key),
    ):
        with pytest.raises(InvalidBlobKey):
            attempt()
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == [".partial"]
    assert not (tmp_path / "escape").exists()


def test_a_symbolic_link_cannot_lead_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    os.symlink(outside, tmp_path / "blobs" / "link")
    with pytest.raises(InvalidBlobKey):
        b"".join(blobs.read("link/secret"))
    with pytest.raises(InvalidBlobKey):
        blobs.put("link/new", [b"x"])
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_a_blob_that_is_a_symbolic_link_is_followed_only_inside_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_bytes(b"secret")
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    blobs.put("real", [b"inside"])
    os.symlink(outside, tmp_path / "blobs" / "leak")
    os.symlink(tmp_path / "blobs" / "real", tmp_path / "blobs" / "alias")
    for call in (lambda: b"".join(blobs.read("leak")), lambda: blobs.stat("leak")):
        with pytest.raises(InvalidBlobKey, match="symbolic link"):
            call()
    assert b"".join(blobs.read("alias")) == b"inside"
    assert blobs.stat("alias").size == 6
    blobs.delete("leak")  # removes the link, not what it points to
    assert outside.read_bytes() == b"secret"


def test_read_many_follows_symbolic_links_only_inside_the_root(tmp_path: Path) -> None:
    """Blobs read in a folder opened once: a link in that folder, or a linked folder, is
    judged as ``read`` judges it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    blobs.put("d/real", [b"inside"])
    os.symlink(outside / "secret", tmp_path / "blobs" / "d" / "leak")
    os.symlink(tmp_path / "blobs" / "d" / "real", tmp_path / "blobs" / "d" / "alias")
    os.symlink(outside, tmp_path / "blobs" / "linked")
    assert list(blobs.read_many([("d/real", 6), ("d/alias", 6)])) == [b"inside", b"inside"]
    for key in ("d/leak", "linked/secret"):
        reads = blobs.read_many([("d/real", 6), (key, 6)])
        assert next(reads) == b"inside"
        with pytest.raises(InvalidBlobKey):
            next(reads)
    os.mkfifo(tmp_path / "blobs" / "d" / "fifo")
    assert list(blobs.read_many([("d/fifo", 3)])) == [b""]  # never blocks
    with pytest.raises(BlobNotFound):
        list(blobs.read_many([("d", 3)]))  # a folder is no blob


def test_urls_that_decode_to_hostile_keys_lead_nowhere(tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    prefix = (tmp_path / "blobs").resolve().as_uri()
    assert blobs.key_for_url(f"{prefix}/..%2Foutside") is None
    assert blobs.key_for_url(f"{prefix}/a%00b") is None
    assert blobs.key_for_url("file:///etc/passwd") is None


def test_deleting_the_last_blob_of_a_folder_removes_the_folder(tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    blobs.put("assets/a1/weights/model.bin", [b"x"])
    blobs.delete("assets/a1/weights/model.bin")
    assert not (tmp_path / "blobs" / "assets").exists()
    with pytest.raises(BlobNotFound):
        blobs.stat("assets/a1/weights/model.bin")


def test_a_failing_disk_is_a_backend_outage_not_a_bad_upload(tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path / "blobs")

    original = os.fdopen

    def fdopen_full(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = original(fd, mode, *args, **kwargs)
        handle.write = lambda _chunk: (_ for _ in ()).throw(OSError(28, "No space left on device"))  # type: ignore[method-assign]
        return handle

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fdopen", fdopen_full)
        with pytest.raises(BackendUnavailable, match="No space left"):
            blobs.put("k", [b"data"])
    assert list((tmp_path / "blobs" / ".partial").iterdir()) == []


def test_abandoned_partial_files_are_removed_at_start(tmp_path: Path) -> None:
    FilesystemBlobStore(tmp_path / "blobs")
    stale, fresh = tmp_path / "blobs" / ".partial" / "stale", tmp_path / "blobs" / ".partial" / "fresh"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    FilesystemBlobStore(tmp_path / "blobs")
    assert sorted(p.name for p in (tmp_path / "blobs" / ".partial").iterdir()) == ["fresh"]


def _put_and_delete_in_one_folder(root: str, worker: int, rounds: int) -> None:
    """Each blob deleted once written: the folder is emptied, and removed, again and again."""
    store = FilesystemBlobStore(Path(root))
    for n in range(rounds):
        key = f"shared/w{worker}-{n}"
        assert store.put(key, [b"x" * 100], transient=True).size == 100
        assert b"".join(store.read(key)) == b"x" * 100
        store.delete(key)


def test_puts_and_deletes_racing_in_one_folder_never_fail(tmp_path: Path) -> None:
    """A delete removes the folder it empties; a put renaming into it just then makes it again."""
    root = str(tmp_path / "blobs")
    FilesystemBlobStore(Path(root))
    failures: list[BaseException] = []

    def worker(number: int) -> None:
        try:
            _put_and_delete_in_one_folder(root, number, ROUNDS)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    processes = [FORK.Process(target=_put_and_delete_in_one_folder, args=(root, 10 + w, ROUNDS)) for w in range(2)]
    for process in processes:
        process.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for process in processes:
        process.join(120)
    assert failures == []
    assert [p.exitcode for p in processes] == [0, 0]
    assert not (Path(root) / "shared").exists(), "the last delete leaves no folder behind"
