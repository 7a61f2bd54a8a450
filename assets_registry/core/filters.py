"""The search language: a safe subset of MongoDB query documents.

``compile_filter`` checks a filter and turns it into a predicate over asset documents. What
is accepted is listed in ``FIELD_OPERATORS`` and ``LOGICAL_OPERATORS``; anything else, and
notably server-side code (``$where``, ``$function``, ``$accumulator``), expressions
(``$expr``) and schema checks (``$jsonSchema``), is refused with the path of the offending
key. Regular expressions run on RE2, which has no backtracking, so no pattern can stall the
server. Depth and size are bounded.

The same ``Filter`` is evaluated in Python by the embedded store and passed through, as
its validated document, to a MongoDB server: both follow ``core.document_paths``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import re2

from assets_registry.core.document_paths import (
    MISSING,
    IndexedArray,
    compare,
    equal,
    split_path,
    values_at,
)
from assets_registry.core.errors import InvalidFilter

LOGICAL_OPERATORS = ("$and", "$or", "$nor")
FIELD_OPERATORS = (
    "$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists",
    "$regex", "$options", "$all", "$size", "$elemMatch", "$not",
)  # fmt: skip
_REFUSED = {
    "$where": "runs JavaScript on the server",
    "$function": "runs JavaScript on the server",
    "$accumulator": "runs JavaScript on the server",
    "$expr": "evaluates aggregation expressions",
    "$jsonSchema": "is not part of the search language",
}
REGEX_OPTIONS = "ims"


@dataclass(frozen=True)
class FilterLimits:
    """Bounds that keep one search from costing the server too much."""

    max_depth: int = 16
    max_nodes: int = 2000
    max_regex_length: int = 1000


Test = Callable[[list[Any]], bool]
Predicate = Callable[[Any], bool]


@dataclass(frozen=True)
class Filter:
    """A checked filter: its document (for servers that evaluate it) and its predicate.

    ``required_terms`` lists, for indexes, conditions every match satisfies: each
    ``(path, values)`` pair says a matching document holds one of ``values`` at ``path``.
    """

    document: dict[str, Any]
    predicate: Predicate = field(repr=False, compare=False)
    required_terms: tuple[tuple[str, frozenset[str]], ...] = ()

    def matches(self, document: Any) -> bool:
        return self.predicate(document)


def compile_filter(document: Any, limits: FilterLimits | None = None) -> Filter:
    """Check ``document`` and return its ``Filter``; raise ``InvalidFilter`` naming the path."""
    compiler = _Compiler(limits or FilterLimits())
    predicate = compiler.query(document, "", 0)
    return Filter(document, predicate, tuple(_required_terms(document)))


class _Compiler:
    def __init__(self, limits: FilterLimits) -> None:
        self.limits = limits
        self.nodes = 0

    def _count(self, path: str, depth: int) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise InvalidFilter(path, f"the filter has more than {self.limits.max_nodes} parts")
        if depth > self.limits.max_depth:
            raise InvalidFilter(path, f"the filter nests deeper than {self.limits.max_depth} levels")

    def query(self, doc: Any, where: str, depth: int) -> Predicate:
        self._count(where, depth)
        if not isinstance(doc, dict):
            raise InvalidFilter(where, "expected a JSON object of conditions")
        parts: list[Predicate] = []
        for key, value in doc.items():
            path = f"{where}.{key}" if where else key
            if key.startswith("$"):
                parts.append(self.logical(key, value, path, depth + 1))
            else:
                parts.append(self.field(key, value, path, depth + 1))
        return _all_of(parts)

    def logical(self, op: str, value: Any, path: str, depth: int) -> Predicate:
        if op in _REFUSED:
            raise InvalidFilter(path, f"{op} is not allowed: it {_REFUSED[op]}")
        if op not in LOGICAL_OPERATORS:
            raise InvalidFilter(path, _unknown(op, LOGICAL_OPERATORS, "at this level"))
        if not isinstance(value, list) or not value:
            raise InvalidFilter(path, f"{op} takes a non-empty array of conditions")
        branches = [self.query(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
        if op == "$and":
            return _all_of(branches)
        if op == "$or":
            return lambda d: any(b(d) for b in branches)
        return lambda d: not any(b(d) for b in branches)

    def field(self, name: str, condition: Any, path: str, depth: int) -> Predicate:
        parts = split_path(name)
        for part in parts:
            if part == "":
                raise InvalidFilter(path, f"the field path {name!r} has an empty segment")
            if "$" in part or "\x00" in part:
                raise InvalidFilter(path, f"the field path {name!r} contains '$' or a NUL character")
        test = self.condition(condition, path, depth, expand=True)
        return lambda d: test(values_at(d, parts))

    def condition(self, condition: Any, path: str, depth: int, expand: bool) -> Test:
        """A test over the values a path reaches: operators, or equality with a literal."""
        if _is_operator_doc(condition):
            return self.operators(condition, path, depth, expand)
        self.literal(condition, path, depth)
        return _eq(condition, expand)

    def operators(self, doc: dict[str, Any], path: str, depth: int, expand: bool) -> Test:
        self._count(path, depth)
        if not all(k.startswith("$") for k in doc):
            raise InvalidFilter(path, "cannot mix operators ($...) and field names in one object")
        if "$options" in doc and "$regex" not in doc:
            raise InvalidFilter(f"{path}.$options", "$options needs a $regex beside it")
        tests = [
            self.operator(op, value, f"{path}.{op}", depth + 1, expand, doc)
            for op, value in doc.items()
            if op != "$options"
        ]
        return lambda values: all(t(values) for t in tests)

    def operator(self, op: str, value: Any, path: str, depth: int, expand: bool, siblings: dict[str, Any]) -> Test:
        if op in _REFUSED:
            raise InvalidFilter(path, f"{op} is not allowed: it {_REFUSED[op]}")
        if op == "$eq":
            self.literal(value, path, depth)
            return _eq(value, expand)
        if op == "$ne":
            self.literal(value, path, depth)
            eq = _eq(value, expand)
            return lambda values: not eq(values)
        if op in ("$gt", "$gte", "$lt", "$lte"):
            if isinstance(value, list | dict):
                raise InvalidFilter(path, f"{op} compares with a number, string, boolean or null")
            return _range(op, value, expand)
        if op in ("$in", "$nin", "$all"):
            if not isinstance(value, list):
                raise InvalidFilter(path, f"{op} takes an array of values")
            for i, v in enumerate(value):
                self.literal(v, f"{path}[{i}]", depth + 1)
            eqs = [_eq(v, expand) for v in value]
            if op == "$in":
                return lambda values: any(e(values) for e in eqs)
            if op == "$nin":
                return lambda values: not any(e(values) for e in eqs)
            return lambda values: bool(eqs) and all(e(values) for e in eqs)
        if op == "$exists":
            if not (isinstance(value, bool) or (type(value) is int and value in (0, 1))):
                raise InvalidFilter(path, "$exists takes true or false")
            wanted = bool(value)
            return lambda values: any(v is not MISSING for v in values) == wanted
        if op == "$regex":
            return self.regex(value, siblings.get("$options", ""), path, expand)
        if op == "$size":
            whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            if isinstance(value, bool) or not whole or value < 0:
                raise InvalidFilter(path, "$size takes a non-negative whole number")
            value = int(value)
            return lambda values: any(isinstance(v, list) and len(v) == value for v in values)
        if op == "$elemMatch":
            return self.elem_match(value, path, depth)
        if op == "$not":
            if not _is_operator_doc(value):
                raise InvalidFilter(path, '$not takes an object of operators, such as {"$regex": "^a"}')
            inner = self.operators(value, path, depth, expand)
            return lambda values: not inner(values)
        raise InvalidFilter(path, _unknown(op, FIELD_OPERATORS, "on a field"))

    def regex(self, pattern: Any, options: Any, path: str, expand: bool) -> Test:
        if not isinstance(pattern, str):
            raise InvalidFilter(path, "$regex takes a string")
        if len(pattern) > self.limits.max_regex_length:
            raise InvalidFilter(path, f"the pattern is longer than {self.limits.max_regex_length} characters")
        if not isinstance(options, str) or any(o not in REGEX_OPTIONS for o in options):
            raise InvalidFilter(
                path.replace("$regex", "$options"), f"$options accepts only the letters {REGEX_OPTIONS!r}"
            )
        re_options = re2.Options()
        re_options.log_errors = False
        re_options.max_mem = 8 << 20
        flags = "".join(sorted(set(options)))
        try:
            compiled = re2.compile(f"(?{flags}){pattern}" if flags else pattern, re_options)
        except re2.error as exc:
            detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            raise InvalidFilter(path, f"the pattern is not a valid RE2 expression ({detail})") from None
        search = compiled.search
        # MongoDB's PCRE lets ``$`` match just before a string's final newline; RE2's ``$`` is the
        # very end. So a string ending in a newline is also tried without it, unless the pattern
        # says ``\z`` (the very end, in both).
        final_newline_is_end = "\\z" not in pattern

        def found(v: str) -> bool:
            if search(v) is not None:
                return True
            return final_newline_is_end and v.endswith("\n") and search(v[:-1]) is not None

        def test(values: list[Any]) -> bool:
            return any(isinstance(v, str) and found(v) for v in _spread(values, expand))

        return test

    def elem_match(self, value: Any, path: str, depth: int) -> Test:
        if not isinstance(value, dict) or not value:
            raise InvalidFilter(path, "$elemMatch takes a non-empty object of conditions")
        value_form = all(k.startswith("$") and k not in LOGICAL_OPERATORS for k in value)
        if value_form:
            inner = self.operators(value, path, depth, expand=False)
            element_ok: Predicate = lambda e: inner([e])  # noqa: E731
        else:
            query = self.query(value, path, depth)
            element_ok = lambda e: isinstance(e, dict) and query(e)  # noqa: E731
        return lambda values: any(isinstance(v, list) and any(element_ok(e) for e in v) for v in values)

    def literal(self, value: Any, path: str, depth: int) -> None:
        """A literal value may not hide operators (``$``-keys) and is bounded like the rest."""
        self._count(path, depth)
        if isinstance(value, dict):
            for key, item in value.items():
                if key.startswith("$"):
                    raise InvalidFilter(f"{path}.{key}", "a literal object may not have '$' field names")
                self.literal(item, f"{path}.{key}", depth + 1)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.literal(item, f"{path}[{i}]", depth + 1)


def _is_operator_doc(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and any(k.startswith("$") for k in value)


def _unknown(op: str, accepted: tuple[str, ...], where: str) -> str:
    return f"{op} is not an accepted operator {where} (accepted: {', '.join(accepted)})"


def _all_of(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    return lambda d: all(p(d) for p in parts)


def _spread(values: list[Any], expand: bool) -> list[Any]:
    """The values themselves and, where expanding, the elements of arrays among them.

    An array picked by its position (``IndexedArray``) is not expanded: it is one value.
    """
    if not expand:
        return values
    out: list[Any] = []
    for v in values:
        out.append(v)
        if isinstance(v, list) and not isinstance(v, IndexedArray):
            out.extend(v)
    return out


def _eq(operand: Any, expand: bool) -> Test:
    if operand is None:
        return lambda values: any(v is MISSING or equal(v, None) for v in _spread(values, expand))
    return lambda values: any(equal(v, operand) for v in _spread(values, expand))


_RANGE_CHECKS: dict[str, Callable[[int], bool]] = {
    "$gt": lambda c: c > 0,
    "$gte": lambda c: c >= 0,
    "$lt": lambda c: c < 0,
    "$lte": lambda c: c <= 0,
}


def _range(op: str, operand: Any, expand: bool) -> Test:
    check = _RANGE_CHECKS[op]

    def test(values: list[Any]) -> bool:
        for v in _spread(values, expand):
            c = compare(v, operand)
            if c is not None and check(c):
                return True
        return False

    return test


def _required_terms(doc: dict[str, Any]) -> list[tuple[str, frozenset[str]]]:
    """Conditions every match satisfies, from top-level (and ``$and``) string equalities."""
    out: list[tuple[str, frozenset[str]]] = []
    for key, cond in doc.items():
        if key == "$and":
            for branch in cond:
                out += _required_terms(branch)
        elif key.startswith("$"):
            continue
        elif isinstance(cond, str):
            out.append((key, frozenset([cond])))
        elif _is_operator_doc(cond):
            for op, value in cond.items():
                if op == "$eq" and isinstance(value, str):
                    out.append((key, frozenset([value])))
                elif op == "$in" and value and all(isinstance(v, str) for v in value):
                    out.append((key, frozenset(value)))
                elif op == "$all" and all(isinstance(v, str) for v in value):
                    out += [(key, frozenset([v])) for v in value]
    return out


MATCH_ALL = compile_filter({})
