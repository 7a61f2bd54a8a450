"""The text a ``$regex`` needs (``adapters.sqlite.regex_literals``) is necessary for every match."""

from __future__ import annotations

import re2
from hypothesis import example, given, settings
from hypothesis import strategies as st

from assets_registry.adapters.sqlite.regex_literals import literals, successor
from assets_registry.adapters.sqlite.search_plan import regex_matches

PIECES = st.sampled_from(
    ["a", "b", "ab", "-", ".", "\\.", "^", "$", "*", "+", "?", "{2}", "{1,2}", "{,2}", "{", "}", "[ab]", "[^a]",
     "[]a]", "(", ")", "\\E", "(\\Q)", "[\\E)", ")?", "(ab)", "(?:a|b)", "(?i)", "(?i:a)", "|", "\\d", "\\b",
     "\\Q", "\\x41", "]", "\n", "é"]
)  # fmt: skip
TEXT = st.text(alphabet="ab-.\nAé1", max_size=8)


def _valid(pattern: str) -> bool:
    try:
        re2.compile(pattern)
    except re2.error:
        return False
    return True


def test_what_is_read() -> None:
    assert literals("^models://acme/") == ("models://acme/", ["models://acme/"])
    assert literals("checkpoint-0042[0-9]$") == ("", ["checkpoint-0042"])
    assert literals("^models://example.com/x") == ("models://example", ["models://example", "com/x"])
    assert literals("^ab*c") == ("a", ["a", "c"])
    assert literals("^(ab|cd)e") == ("", ["e"])
    for unread in ("a|b", "(?i)abc", "\\Qa.b\\E", "\\x41bc", "\\pLabc", "(\\Q)abc(\\E)?", "(\\Q)abc[\\E)?]"):
        assert literals(unread) == ("", []), unread
    assert literals("abc", "i") == ("", [])
    assert literals("^abc", "m") == ("", ["abc"])  # ^ after any newline: no prefix
    assert successor("abc") == "abd" and successor("a\U0010ffff") == "b" and successor("\U0010ffff") is None
    assert successor("a\ud7ff") == "a\ue000"


@settings(max_examples=3000, deadline=None)
@given(st.lists(PIECES, max_size=6).map("".join), st.sampled_from(["", "m", "s", "ms"]), TEXT, TEXT, TEXT)
@example("^a+b", "", "", "aab", "")
@example("a{,2}b", "", "x", "a{,2}b", "")
def test_every_match_starts_with_the_prefix_and_holds_the_text(
    pattern: str, options: str, before: str, middle: str, after: str
) -> None:
    if not _valid(pattern):
        return
    prefix, required = literals(pattern, options)
    for value in (before + middle + after, middle, middle + "\n", before + "".join(required) + after, prefix + after):
        if regex_matches(pattern, options, value):
            assert value.startswith(prefix), (pattern, options, value, prefix)
            assert all(piece in value for piece in required), (pattern, options, value, required)
            if prefix and (bound := successor(prefix)) is not None:
                assert prefix <= value < bound
