"""What text every match of a ``$regex`` must start with, and must contain: index-friendly filters.

A regex is answered by trying RE2 on every string its path holds (~1.5 µs each, through
Python): 180 ms for 100,000 strings. Most patterns name some text outright (``^models://acme/``,
``checkpoint-0042``), which SQLite can look for first: a prefix as a range of the index's key,
a substring with ``instr`` (in C, ~0.1 µs); RE2 then runs only on the strings that pass.

The reading here is deliberately partial: it understands a top-level sequence of plain
characters, escaped punctuation, classes, groups, ``.``, anchors and quantifiers, and gives up
(nothing known) on anything else (alternation, flag groups, ``\\Q``, ``\\p``, ``\\x``, back-references,
the ``i`` and ``x`` options). What it returns is necessary for a match, never sufficient: the
regex itself still decides, so a pattern it cannot read is only slower, never answered wrongly.
"""

from __future__ import annotations

import re

_QUANTIFIER = re.compile(r"\{(\d+(,\d*)?|,\d+)\}")
_FLAGS_GROUP = re.compile(r"\(\?[a-zA-Z-]*\)")
_UNREAD_ESCAPES = set("QEpPxNoukgc0123456789")
"""Escapes whose extent or meaning this reading does not follow: give up on the pattern."""


class _Unreadable(Exception):
    pass


def literals(pattern: str, options: str = "") -> tuple[str, list[str]]:
    """``(prefix, required)``: text every matching string starts with (``""`` if none is known),
    and the pieces of text every match contains (each of them, the prefix too)."""
    if "i" in options or "x" in options or "\\Q" in pattern:  # \Q...\E quotes even ) and ], anywhere
        return "", []
    try:
        runs, anchored_run = _runs(pattern, anchored="m" not in options and pattern.startswith("^"))
    except _Unreadable:
        return "", []
    return (runs[0] if anchored_run and runs else ""), runs


def successor(prefix: str) -> str | None:
    """The least string greater than every string that starts with ``prefix`` (None: there is none)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = last + 1 if last + 1 not in range(0xD800, 0xE000) else 0xE000
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None


def _runs(pattern: str, anchored: bool) -> tuple[list[str], bool]:
    """The runs of characters the top-level sequence requires, in order; whether the first one
    starts right at the ``^`` anchor."""
    runs: list[str] = []
    current: list[str] = []
    first_at_anchor = anchored
    position = 1 if anchored else 0

    def close() -> None:
        nonlocal first_at_anchor
        if current:
            runs.append("".join(current))
            current.clear()
        elif not runs:
            first_at_anchor = False  # something other than a required character came first

    while position < len(pattern):
        char = pattern[position]
        if char == "|":
            raise _Unreadable  # an alternative may need none of the text
        if char in "*+?{":
            if char == "{" and not _QUANTIFIER.match(pattern, position):
                raise _Unreadable
            if current:
                current.pop()  # the character before a quantifier may be absent or repeated
            close()
            position = _after_quantifier(pattern, position)
            continue
        if char == "\\":
            escaped = pattern[position + 1 : position + 2]
            if not escaped or escaped in _UNREAD_ESCAPES:
                raise _Unreadable
            position += 2
            if escaped.isascii() and escaped.isalnum():
                close()  # a class or an assertion (\d, \w, \b, \A, \z): no one character
            else:
                current.append(escaped)
            continue
        if char in "[(":
            close()
            position = _class_end(pattern, position) if char == "[" else _group_end(pattern, position)
            continue
        if char in ".^$)]}":
            close()
            position += 1
            continue
        current.append(char)
        position += 1
    close()
    return runs, first_at_anchor


def _after_quantifier(pattern: str, position: int) -> int:
    found = _QUANTIFIER.match(pattern, position) if pattern[position] == "{" else None
    position = found.end() if found else position + 1
    return position + 1 if pattern[position : position + 1] == "?" else position  # lazy


def _class_end(pattern: str, start: int) -> int:
    """The position after the ``]`` that closes the class opened at ``start``."""
    position = start + 1
    if pattern[position : position + 1] == "^":
        position += 1
    if pattern[position : position + 1] == "]":
        position += 1  # a leading ] is a member
    while position < len(pattern):
        char = pattern[position]
        if char == "\\":
            position += 2
        elif pattern.startswith("[:", position):
            end = pattern.find(":]", position + 2)
            position = end + 2 if end >= 0 else position + 1
        elif char == "]":
            return position + 1
        else:
            position += 1
    raise _Unreadable


def _group_end(pattern: str, start: int) -> int:
    """The position after the ``)`` that closes the group opened at ``start``; a group setting
    flags for what follows it (``(?i)``) makes the pattern unreadable."""
    if _FLAGS_GROUP.match(pattern, start):
        raise _Unreadable
    depth, position = 0, start
    while position < len(pattern):
        char = pattern[position]
        if char == "\\":
            position += 2
            continue
        if char == "[":
            position = _class_end(pattern, position)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return position + 1
        position += 1
    raise _Unreadable
