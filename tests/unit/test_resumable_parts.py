"""How far a resumable upload's parts reach, and the archive ranges they hold (``core.bundles.resumable``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assets_registry.core.bundles.resumable import _covered, _Part, parse_metadata
from assets_registry.core.bundles.staged_archive import Hole


def part(offset: int, size: int, nonce: str = "") -> _Part:
    return _Part(f"p{offset}{nonce}", offset, size, 0.0)


def test_parts_reach_as_far_as_they_go_without_a_gap() -> None:
    assert _covered([]) == (0, [])
    assert _covered([part(0, 5), part(5, 3)]) == (8, [Hole(0, 5, "p0", 0), Hole(5, 3, "p5", 0)])
    assert _covered([part(0, 5), part(6, 3)])[0] == 5  # a gap: what lies past it does not count
    assert _covered([part(1, 5)]) == (0, [])


def test_an_append_retried_over_one_that_did_land_is_read_from_where_the_first_ends() -> None:
    reached, holes = _covered([part(0, 10), part(4, 10)])
    assert reached == 14
    assert holes == [Hole(0, 10, "p0", 0), Hole(10, 4, "p4", 6)]
    assert _covered([part(0, 10), part(2, 3)]) == (10, [Hole(0, 10, "p0", 0)])  # wholly inside: unused
    longest_first = [part(0, 10, "b"), part(0, 4, "a")]  # two appends from 0, as _parts orders them
    assert _covered(longest_first) == (10, [Hole(0, 10, "p0b", 0)])


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 20)), max_size=12, unique_by=lambda span: span[0]))
def test_the_holes_tile_the_reached_range_exactly(spans: list[tuple[int, int]]) -> None:
    parts = sorted((part(o, s) for o, s in spans), key=lambda p: p.offset)
    reached, holes = _covered(parts)
    position = 0
    for hole in holes:
        assert hole.offset == position and hole.length > 0
        source = next(p for p in parts if p.key == hole.key)
        assert hole.blob_offset >= 0 and hole.blob_offset + hole.length <= source.size
        assert source.offset + hole.blob_offset == hole.offset  # the bytes of that offset
        position = hole.end
    assert position == reached


def test_metadata_pairs() -> None:
    assert parse_metadata("filename eC56aXA=, flag") == {"filename": "eC56aXA=", "flag": ""}
    assert parse_metadata(None) == {}
