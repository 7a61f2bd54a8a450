"""Page sizes and the opaque cursors of list answers."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assets_registry.core.errors import InvalidCursor, InvalidInput
from assets_registry.core.pagination import PageLimits, decode_cursor, encode_cursor

IDS = ["asset-001", "é-unicode", "模型", "😀 emoji", "a b", "a+b/c?d=e&f#g", "Z", "x" * 256, "=", "a:"]


@pytest.mark.parametrize("after", IDS)
def test_a_cursor_round_trips(after: str) -> None:
    cursor = encode_cursor(after)
    assert decode_cursor(cursor) == after


@pytest.mark.parametrize("after", IDS)
def test_a_cursor_is_url_safe_and_opaque(after: str) -> None:
    cursor = encode_cursor(after)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert after not in cursor


@given(st.text(min_size=1))
def test_any_text_round_trips(after: str) -> None:
    assert decode_cursor(encode_cursor(after)) == after


@pytest.mark.parametrize("cursor", [None, ""])
def test_no_cursor_means_the_first_page(cursor: str | None) -> None:
    assert decode_cursor(cursor) is None


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "%%%",
        "a",
        "abcde",
        b64(b"not-a-cursor"),
        b64(b"b:asset-001"),
        b64(b"a:\xff\xfe"),
        b64(b"\x80a:x"),
        b64(b"A:asset"),
    ],
)
def test_a_cursor_we_did_not_make_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as caught:
        decode_cursor(cursor)
    assert caught.value.code == "invalid_cursor"
    assert isinstance(caught.value, InvalidInput)
    assert "start again without it" in caught.value.message


def test_the_default_page_size_is_used_when_none_is_asked_for() -> None:
    assert PageLimits().resolve(None) == 100
    assert PageLimits(default=7, maximum=9).resolve(None) == 7


@pytest.mark.parametrize("limit", [1, 50, 1000])
def test_page_sizes_within_the_limits_are_kept(limit: int) -> None:
    assert PageLimits().resolve(limit) == limit


@pytest.mark.parametrize("limit", [0, -1, 1001, 10**9])
def test_page_sizes_outside_the_limits_are_refused(limit: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        PageLimits().resolve(limit)
    assert caught.value.code == "invalid_input"
    assert caught.value.message == f"limit must be between 1 and 1000; got {limit}."


def test_a_cursor_with_stray_characters_is_refused() -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor("x") + "!!")
