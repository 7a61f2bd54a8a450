"""``BlobFile``: the staged archive read back whole, its holes filled from other blobs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets_registry.adapters.filesystem import FilesystemBlobStore
from assets_registry.core.bundles.staged_archive import BlobFile, Hole
from assets_registry.testing.memory import MemoryBlobStore


@st.composite
def archives_with_holes(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int]]]:
    data = draw(st.binary(min_size=0, max_size=4000))
    cuts = sorted(draw(st.sets(st.integers(0, len(data)), max_size=12)))
    ranges = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if b > a]
    return data, ranges


def split(blobs: MemoryBlobStore, data: bytes, ranges: list[tuple[int, int]]) -> list[Hole]:
    """Store ``data`` without ``ranges``, each range in a blob of its own behind some padding."""
    holes, kept, position = [], [], 0
    for n, (start, end) in enumerate(ranges):
        kept.append(data[position:start])
        padding = b"#" * n
        blobs.put(f"member-{n}", [padding + data[start:end] + b"tail"])
        holes.append(Hole(start, end - start, f"member-{n}", len(padding)))
        position = end
    kept.append(data[position:])
    blobs.put("staged", [b"".join(kept)])
    return holes


@settings(max_examples=200, deadline=None)
@given(archive=archives_with_holes(), reads=st.lists(st.tuples(st.integers(0, 4100), st.integers(0, 900)), max_size=8))
def test_any_read_sees_the_archive_as_uploaded(
    archive: tuple[bytes, list[tuple[int, int]]], reads: list[tuple[int, int]]
) -> None:
    data, ranges = archive
    blobs = MemoryBlobStore()
    view = BlobFile(blobs, "staged", holes=split(blobs, data, ranges))
    assert view.size == len(data)
    assert view.read() == data
    for start, length in reads:
        view.seek(start)
        assert view.read(length) == data[start : start + length]
        assert view.tell() == (min(start + length, len(data)) if start < len(data) else start)
    view.seek(-min(len(data), 7), io.SEEK_END)
    assert view.read() == data[len(data) - min(len(data), 7) :]


def test_holes_that_overlap_or_outgrow_the_staged_blob_are_refused(tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path)
    blobs.put("staged", [b"0123456789"])
    blobs.put("m", [b"abcdef"])
    with pytest.raises(ValueError, match="overlap"):
        BlobFile(blobs, "staged", holes=[Hole(2, 4, "m", 0), Hole(4, 2, "m", 0)])
    with pytest.raises(ValueError, match="past its end"):
        BlobFile(blobs, "staged", size=2, holes=[Hole(5, 2, "m", 0)])


def test_a_hole_whose_blob_came_up_short_gives_a_short_read(tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path)
    blobs.put("staged", [b"head", b"tail"])
    blobs.put("m", [b"abc"])  # the hole says 6 bytes
    view = BlobFile(blobs, "staged", holes=[Hole(4, 6, "m", 0)])
    assert view.size == 14
    assert view.read(14) == b"headabc"
