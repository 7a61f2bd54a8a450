"""The public helpers for store authors: key rules, listings by folder, batched reads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets_registry.core.errors import BlobNotFound
from assets_registry.core.ports import BlobInfo
from assets_registry.plugins import store_helpers
from assets_registry.plugins.store_helpers import (
    InvalidBlobKey,
    by_folder,
    check_key,
    missing_by_listing,
    read_ahead,
    read_each,
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["", ".", "..", ".partial", "a", "..a", "a..", ".x", " ", "x" * 255, "x" * 256, "é" * 128]),
            st.text(alphabet=st.characters(max_codepoint=0x17F), max_size=12),
        ),
        min_size=1,
        max_size=5,
    ).map("/".join)
)
def test_the_fast_blob_key_check_agrees_with_the_rules(key: str) -> None:
    assert (store_helpers.key_problem(key) is None) == (store_helpers.key_problem_by_rules(key) is None), key


def test_check_key_names_the_rule_broken() -> None:
    assert check_key("a/b.txt") == "a/b.txt"
    with pytest.raises(InvalidBlobKey, match="reserved folder"):
        check_key(".partial/x")
    with pytest.raises(InvalidBlobKey, match=r"'\.\.' segments"):
        check_key("a/../b")


def test_by_folder_groups_sorted_keys_once() -> None:
    assert by_folder(["b/2", "a", "b/1", "b/2"]) == {"b/": ["b/1", "b/2"], "": ["a"]}


def test_missing_by_listing_lists_a_folder_of_many_and_stats_a_few() -> None:
    present = {"d/k1", "d/k3", "d/k5", "e/x"}
    stats: list[str] = []
    listings: list[tuple[str, str, str]] = []

    def stat(key: str) -> BlobInfo:
        stats.append(key)
        if key not in present:
            raise BlobNotFound(key)
        return BlobInfo(key=key, url="u", size=0)

    def listed(folder: str, first: str, last: str) -> set[str]:
        listings.append((folder, first, last))
        return {k for k in present if k.startswith(folder)}

    keys = ["d/k1", "d/k2", "d/k3", "d/k4", "d/k5", "e/x", "e/y"]
    assert missing_by_listing(keys, check_key, stat, listed) == ["d/k2", "d/k4", "e/y"]
    assert listings == [("d/", "d/k1", "d/k5")]
    assert sorted(stats) == ["e/x", "e/y"]


def _reader(blobs: dict[str, bytes]):  # type: ignore[no-untyped-def]
    def read(key: str, start: int, length: int | None) -> Iterator[bytes]:
        if key not in blobs:
            raise BlobNotFound(key)
        data = blobs[key][start:]
        yield data if length is None else data[:length]

    return read


def test_read_ahead_gives_blobs_in_order_and_raises_in_turn() -> None:
    blobs = {f"k{i}": bytes([i % 256]) * (i % 7) for i in range(500)}
    items = [(k, len(v)) for k, v in blobs.items()]
    assert list(read_ahead(_reader(blobs), items)) == list(blobs.values())
    assert list(read_each(_reader(blobs), items)) == list(blobs.values())
    blobs_read = read_ahead(_reader(blobs), [*items[:300], ("gone", 0), *items[300:]])
    got = [next(blobs_read) for _ in range(300)]
    assert got == list(blobs.values())[:300]
    with pytest.raises(BlobNotFound):
        next(blobs_read)


def test_a_mutated_key_leads_back_to_its_member_key() -> None:
    from assets_registry.core.bundles.keys import file_key, mutated_key, unmutated_key

    member = file_key("u1", "pkg/a/b.txt")
    assert mutated_key(member, 2) == "assets/u1~2/pkg/a/b.txt"
    assert mutated_key(mutated_key(member, 1), 2) == "assets/u1~2/pkg/a/b.txt"
    assert unmutated_key(mutated_key(member, 2)) == member
    for key in (file_key("u1", "a~1/b.txt"), "staging/u1.zip", "assets/u1~x/b", "assets/u1~1"):
        assert unmutated_key(key) == key
