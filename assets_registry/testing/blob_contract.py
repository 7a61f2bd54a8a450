"""The contract every ``BlobStore`` adapter passes.

Subclass ``BlobStoreContract`` in a ``Test*`` class and override the ``blobs`` fixture.
A fake that keeps blobs in memory opts out of the streaming test by setting
``test_large_blobs_stream_with_bounded_memory = None`` in its subclass.
"""

from __future__ import annotations

import hashlib
import threading
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from assets_registry.core.errors import BlobNotFound, InvalidInput
from assets_registry.core.ports import BlobStore

MiB = 1 << 20


def pattern_chunks(total: int, chunk: int = MiB, seed: int = 7) -> Iterator[bytes]:
    """Deterministic, incompressible-looking bytes, made chunk by chunk (never all at once)."""
    block = hashlib.sha256(str(seed).encode()).digest() * (chunk // 32 + 1)
    sent = 0
    n = 0
    while sent < total:
        size = min(chunk, total - sent)
        yield bytes([n % 251]) + block[1:size]
        sent += size
        n += 1


def read_all(blobs: BlobStore, key: str, start: int = 0, length: int | None = None) -> bytes:
    return b"".join(blobs.read(key, start, length))


class BlobStoreContract:
    memory_budget = 24 * MiB
    """The most Python memory one large put and read may take (a store whose transfers hold
    several parts at once, as S3's, sets its own, from its settings)."""

    @pytest.fixture
    def blobs(self) -> Iterator[BlobStore]:
        raise NotImplementedError("override the blobs fixture with a fresh, empty store")

    def test_put_reports_size_and_sha256_and_read_returns_the_bytes(self, blobs: BlobStore) -> None:
        data = b"weights " * 1000
        info = blobs.put("assets/a1/model.bin", [data[:100], data[100:]])
        assert (info.key, info.size, info.sha256) == (
            "assets/a1/model.bin",
            len(data),
            hashlib.sha256(data).hexdigest(),
        )
        assert read_all(blobs, "assets/a1/model.bin") == data
        assert blobs.stat("assets/a1/model.bin").size == len(data)

    def test_a_transient_blob_reads_back_like_any_other(self, blobs: BlobStore) -> None:
        info = blobs.put("staging/u.zip", [b"work", b"ing"], transient=True)
        assert info.size == 7
        assert info.sha256 in (None, hashlib.sha256(b"working").hexdigest())
        assert read_all(blobs, "staging/u.zip") == b"working"
        blobs.delete("staging/u.zip")
        with pytest.raises(BlobNotFound):
            blobs.stat("staging/u.zip")

    def test_an_empty_blob_is_a_blob(self, blobs: BlobStore) -> None:
        info = blobs.put("empty", [])
        assert info.size == 0
        assert info.sha256 == hashlib.sha256(b"").hexdigest()
        assert read_all(blobs, "empty") == b""
        assert blobs.stat("empty").size == 0

    def test_put_replaces_an_existing_blob(self, blobs: BlobStore) -> None:
        blobs.put("k", [b"old contents"])
        blobs.put("k", [b"new"])
        assert read_all(blobs, "k") == b"new"

    def test_ranged_reads(self, blobs: BlobStore) -> None:
        blobs.put("r", [bytes(range(256))])
        assert read_all(blobs, "r", 10, 5) == bytes(range(10, 15))
        assert read_all(blobs, "r", 250) == bytes(range(250, 256))
        assert read_all(blobs, "r", 0, 0) == b""

    def test_missing_blobs_are_not_found(self, blobs: BlobStore) -> None:
        with pytest.raises(BlobNotFound):
            read_all(blobs, "missing/blob")
        with pytest.raises(BlobNotFound):
            blobs.stat("missing/blob")

    def test_missing_names_the_keys_without_a_blob_in_the_order_given(self, blobs: BlobStore) -> None:
        for key in ("a/1", "a/2", "b/x", "top"):
            blobs.put(key, [key.encode()])
        asked = ["a/1", "a/4", "nope", "a/2", "b/x", "b/y", "c/z", "top", "a/4"]
        assert blobs.missing(asked) == ["a/4", "nope", "b/y", "c/z"]
        assert blobs.missing([]) == []

    def test_missing_answers_for_a_folder_of_many_blobs(self, blobs: BlobStore) -> None:
        """Enough keys in one folder that stores which list folders do so, around other blobs."""
        for n in range(0, 40, 2):
            blobs.put(f"assets/u1/files/f{n:03}", [b"x"])
        blobs.put("assets/u1/files/sub/f001", [b"not f001"])  # in a subfolder: not the key asked for
        blobs.put("assets/u1/filesystem", [b"a neighbour of the folder"])
        asked = [f"assets/u1/files/f{n:03}" for n in range(40)]
        assert blobs.missing(asked) == [f"assets/u1/files/f{n:03}" for n in range(1, 40, 2)]
        assert blobs.missing(["assets/u1/nothing/here/" + str(n) for n in range(5)]) == [
            "assets/u1/nothing/here/" + str(n) for n in range(5)
        ]

    def test_read_many_gives_each_blob_whole_in_order_and_at_most_one_byte_more(self, blobs: BlobStore) -> None:
        blobs.put("m/a", [b"alpha"])
        blobs.put("m/empty", [])
        blobs.put("m/grew", [b"0123456789"])
        blobs.put("m/kib", pattern_chunks(1024, chunk=100))
        asked = [("m/a", 5), ("m/empty", 0), ("m/grew", 4), ("m/kib", 1024), ("m/a", 5)]
        got = list(blobs.read_many(asked))
        assert got == [b"alpha", b"", b"01234", read_all(blobs, "m/kib"), b"alpha"]
        assert list(blobs.read_many([("m/a", 9)])) == [b"alpha"]  # shorter than recorded: as it is
        assert list(blobs.read_many([])) == []

    def test_read_many_of_a_missing_blob_is_not_found_in_its_turn(self, blobs: BlobStore) -> None:
        blobs.put("m/a", [b"alpha"])
        reads = blobs.read_many([("m/a", 5), ("m/gone", 3)])
        assert next(reads) == b"alpha"
        with pytest.raises(BlobNotFound):
            next(reads)

    def test_read_many_of_many_blobs_keeps_their_order_and_fails_in_turn(self, blobs: BlobStore) -> None:
        """Enough blobs that stores reading ahead in batches use several batches."""
        asked = [(f"many/{n:03}", n * 7) for n in range(150)]
        for key, size in asked:
            if key != "many/140":
                blobs.put(key, [key.encode() * size])
        got = blobs.read_many(asked)
        for key, size in asked[:140]:
            assert next(got) == (key.encode() * size)[: size + 1]
        with pytest.raises(BlobNotFound):
            next(got)

    def test_delete_is_idempotent(self, blobs: BlobStore) -> None:
        blobs.put("assets/x/f", [b"1"])
        blobs.delete("assets/x/f")
        blobs.delete("assets/x/f")
        with pytest.raises(BlobNotFound):
            blobs.stat("assets/x/f")

    def test_listing_gives_every_blob_under_a_folder_with_its_size_and_time(self, blobs: BlobStore) -> None:
        started = time.time() - 120  # clocks of a remote store may differ a little from ours
        for key, size in [("assets/u1/a.bin", 3), ("assets/u1/deep/b.bin", 0), ("assets/u2/c.bin", 5)]:
            blobs.put(key, [b"x" * size])
        blobs.put("staging/u3.zip", [b"zip"], transient=True)
        listed = {blob.key: blob for blob in blobs.listing("assets/")}
        assert {k: b.size for k, b in listed.items()} == {
            "assets/u1/a.bin": 3,
            "assets/u1/deep/b.bin": 0,
            "assets/u2/c.bin": 5,
        }
        assert all(started <= blob.modified <= time.time() + 120 for blob in listed.values())
        assert {blob.key for blob in blobs.listing("assets/u1/")} == {"assets/u1/a.bin", "assets/u1/deep/b.bin"}
        assert {blob.key for blob in blobs.listing("")} >= {*listed, "staging/u3.zip"}
        assert list(blobs.listing("nothing/here/")) == []
        blobs.delete("assets/u1/a.bin")
        assert "assets/u1/a.bin" not in {blob.key for blob in blobs.listing("assets/")}

    def test_urls_lead_back_to_their_keys(self, blobs: BlobStore) -> None:
        for key in ("plain", "nested/dir/file.bin", "ünï cödé/ß?#%.txt"):
            info = blobs.put(key, [b"x"])
            assert blobs.key_for_url(info.url) == key
            assert blobs.stat(key).url == info.url
        assert blobs.key_for_url("https://elsewhere.example/plain") is None

    def test_a_failed_put_leaves_the_previous_blob_whole(self, blobs: BlobStore) -> None:
        blobs.put("k", [b"previous"])

        def broken() -> Iterator[bytes]:
            yield b"partial data"
            raise OSError("the client went away")

        with pytest.raises(OSError, match="went away"):
            blobs.put("k", broken())
        assert read_all(blobs, "k") == b"previous"
        with pytest.raises(OSError, match="went away"):
            blobs.put("never", broken())
        with pytest.raises(BlobNotFound):
            blobs.stat("never")

    def test_concurrent_puts_leave_one_whole_blob(self, blobs: BlobStore) -> None:
        payloads = [bytes([n]) * (256 * 1024) for n in range(6)]
        threads = [threading.Thread(target=blobs.put, args=("contested", [p[:1000], p[1000:]])) for p in payloads]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert read_all(blobs, "contested") in payloads

    def test_large_blobs_stream_with_bounded_memory(self, blobs: BlobStore) -> None:
        total = 96 * MiB
        expected = hashlib.sha256()
        tracemalloc.start()
        try:
            info = blobs.put("big/blob", pattern_chunks(total))
            got = hashlib.sha256()
            size = 0
            for chunk in blobs.read("big/blob"):
                got.update(chunk)
                size += len(chunk)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        for chunk in pattern_chunks(total):
            expected.update(chunk)
        assert (info.size, size) == (total, total)
        assert info.sha256 == got.hexdigest() == expected.hexdigest()
        assert peak < self.memory_budget, f"peak Python allocations {peak / MiB:.1f} MiB for a {total // MiB} MiB blob"

    def test_a_blob_and_a_folder_of_blobs_may_share_a_prefix_or_be_refused_cleanly(self, blobs: BlobStore) -> None:
        """Object stores hold ``a`` and ``a/b`` side by side; a filesystem cannot, and says so."""
        blobs.put("a", [b"file"])
        try:
            blobs.put("a/b", [b"nested"])
        except InvalidInput:
            assert read_all(blobs, "a") == b"file"
        else:
            assert (read_all(blobs, "a"), read_all(blobs, "a/b")) == (b"file", b"nested")

    def test_check_passes_on_a_working_backend(self, blobs: BlobStore) -> None:
        blobs.check()
