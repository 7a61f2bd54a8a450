"""How a dotted path reaches into a JSON document, and how values compare: MongoDB's rules.

These two functions define what every metadata adapter must agree on, so they live in one
place: the filter evaluator uses them, and adapters use ``values_at`` to compute the terms
they index, which keeps index-served answers identical to evaluated ones.

MongoDB's rules, as implemented here:

- A path segment applied to an array applies to each element that is an object (one array
  level per segment; arrays directly inside arrays are not entered).
- A numeric segment (``files.0``) also selects that position of an array. Where the last
  segment picks an element that is itself an array, that array is one value, compared whole
  (MongoDB compares "the element at the index position"): ``{"a.0": 1}`` does not match
  ``{"a": [[1, 2]]}``, while an array reached through a field name also offers its elements.
- Where a path leads nowhere the result holds ``MISSING``, which equality with ``null``
  matches, as MongoDB's ``{field: null}`` matches absent fields.
- Values compare only within a type bracket: numbers with numbers (``1 == 1.0``), strings
  with strings (by code point, i.e. UTF-8 byte order), booleans with booleans, null with
  null. Objects are equal when they have the same fields, in the same order, with equal values.
"""

from __future__ import annotations

from typing import Any, Final


class _Missing:
    """The value of a path that leads nowhere."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class IndexedArray(list[Any]):
    """An array that a path's last segment picked by its position in its parent array.

    Conditions compare it as one value and never with its elements, as MongoDB does.
    """


def split_path(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def values_at(document: Any, parts: tuple[str, ...]) -> list[Any]:
    """Every value ``parts`` reaches in ``document`` (``[MISSING]`` if it reaches none)."""
    return _walk(document, parts, 0)


def _walk(value: Any, parts: tuple[str, ...], i: int) -> list[Any]:
    if i == len(parts):
        return [value]
    if isinstance(value, dict):
        part = parts[i]
        return _walk(value[part], parts, i + 1) if part in value else [MISSING]
    if isinstance(value, list):
        found: list[Any] = []
        part = parts[i]
        if _is_position(part) and int(part) < len(value):
            element = value[int(part)]
            if i + 1 == len(parts) and isinstance(element, list):
                element = IndexedArray(element)
            found += _walk(element, parts, i + 1)
        for element in value:
            if isinstance(element, dict):
                found += _walk(element, parts, i)
        return found or [MISSING]
    return [MISSING]


def _is_position(part: str) -> bool:
    return part.isascii() and part.isdigit() and (part == "0" or not part.startswith("0"))


def string_terms(document: Any, parts: tuple[str, ...]) -> set[str]:
    """The strings that equality on ``parts`` can match in ``document`` (for indexes).

    Equality matches a reached value or any element of a reached array, so both count.
    """
    terms: set[str] = set()
    for value in values_at(document, parts):
        if isinstance(value, str):
            terms.add(value)
        elif isinstance(value, list) and not isinstance(value, IndexedArray):
            terms.update(v for v in value if isinstance(v, str))
    return terms


def scalar_terms(document: Any) -> set[tuple[str, str, Any]]:
    """``(field path, bracket, value)`` of every string, number and boolean that equality on a
    path of field names reaches, as ``values_at`` and equality do: each field name joins the
    path, an array's objects carry on along it, an array's scalars are its values, and arrays
    directly inside arrays are not entered. So a document holds a term exactly when equality
    (or ``$in``, a range, a regex) on that path matches it, and an index of these terms can
    answer negations too. Field names holding a ``.`` are left out (no path names them), and
    nulls (``{field: null}`` also matches where the field is absent, which no term says)."""
    terms: set[tuple[str, str, Any]] = set()

    def walk(value: Any, path: str, in_array: bool) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if "." not in key:
                    walk(item, f"{path}.{key}" if path else key, False)
        elif isinstance(value, list):
            if not in_array:
                for item in value:
                    walk(item, path, True)
        elif value is not None and path:
            terms.add((path, bracket(value) or "", value))

    walk(document, "", False)
    return terms


def equal(a: Any, b: Any) -> bool:
    """MongoDB equality of two JSON values (``True`` is not ``1``; ``1`` is ``1.0``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(
            ka == kb and equal(va, vb) for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    return False


def bracket(value: Any) -> str | None:
    """The comparison bracket of a scalar, or None for values range operators never match."""
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def compare(value: Any, operand: Any) -> int | None:
    """-1, 0 or 1 comparing ``value`` with ``operand``; None when their brackets differ."""
    kind = bracket(value)
    if kind is None or kind != bracket(operand):
        return None
    if kind == "null":
        return 0
    return int(value > operand) - int(value < operand)
