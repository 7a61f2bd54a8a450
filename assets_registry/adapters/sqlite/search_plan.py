"""A search filter as SQL over the index of every scalar path (``asset_index``).

``asset_index`` holds ``core.document_paths.scalar_terms`` of every asset: ``(path, kind,
value)`` for each string, number and boolean, ``kind`` being its comparison bracket. The
conditions an index can answer become SQL: equality, ``$in``, ``$all`` and ranges on a path of
field names (within the operand's bracket, so ``$gt: 5`` never meets strings), ``$regex``
(RE2, as the SQL function ``regex_matches``), combined through ``$and``, ``$or`` and
``$elemMatch``. What no index can answer (``$ne``, ``$nin``, ``$not``, ``$nor``, ``$exists``,
``$size``, ``null``, array positions, whole arrays or objects) is left out, which only widens
the candidates: the terms are a superset of what each condition matches, so the SQL selects a
superset of the answer, and every candidate is then evaluated by the filter itself (the one
evaluator every store is measured against). The answers are thus exactly the evaluator's.

The plan drives from the most selective equality (its rows come in id order from the index's
primary key), or from a small enough set of range or ``$in`` matches (or of the strings a
regex's path holds), and checks the other conditions per candidate with ``EXISTS`` on
``(asset_id, path, kind, value)``; with nothing selective, it walks the assets in id order and
checks them all in SQL.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import re2

from assets_registry.adapters.sqlite import regex_literals
from assets_registry.core.document_paths import bracket, split_path
from assets_registry.core.filters import REGEX_OPTIONS

SMALL = 20_000
"""A range or ``$in`` matching fewer rows than this is collected and sorted; more, and the
assets are walked in id order (the first page is then found early)."""

_OPERATORS = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


@dataclass(frozen=True)
class Term:
    """Some value at ``path`` (of ``kind``) compares with ``operand`` by ``op`` (``in``: is one of)."""

    path: str
    kind: str
    op: str
    operand: Any

    def rows(self, t: str = "t", tried: bool = False) -> tuple[str, list[Any]]:
        """SQL over ``asset_index AS <t>``: the rows holding such a value (``tried``: for a regex,
        the rows RE2 would be tried on, those its prefix and literal text let through)."""
        if self.op == "in":
            marks = ",".join("?" * len(self.operand))
            return f"{t}.path = ? AND {t}.kind = ? AND {t}.value IN ({marks})", [self.path, self.kind, *self.operand]
        if self.op == "regex":
            pattern, options = self.operand
            sql, params = f"{t}.path = ? AND {t}.kind = 'string'", [self.path]
            prefix, required = regex_literals.literals(pattern, options)
            if prefix:
                sql, params = f"{sql} AND {t}.value >= ?", [*params, prefix]
                if (bound := regex_literals.successor(prefix)) is not None:
                    sql, params = f"{sql} AND {t}.value < ?", [*params, bound]
            for piece in sorted(set(required) - {prefix}, key=len, reverse=True)[:4]:
                sql, params = f"{sql} AND instr({t}.value, ?) > 0", [*params, piece]
            if tried:
                return sql, params
            return f"{sql} AND regex_matches(?, ?, {t}.value)", [*params, pattern, options]
        return f"{t}.path = ? AND {t}.kind = ? AND {t}.value {self.op} ?", [self.path, self.kind, self.operand]


@dataclass(frozen=True)
class AnyOf:
    branches: tuple[Condition, ...]


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class NoneOf:
    """None of what ``condition`` asks (built only from conditions the index answers exactly)."""

    condition: Condition


Condition = Term | AnyOf | AllOf | NoneOf


MAX_TERMS = 200
"""A filter planned into more terms than this is left to the evaluator whole: SQLite refuses
expressions nested deeper than 1,000, and a long ``$or`` chains its branches."""


def plan(document: dict[str, Any], prefix: str = "") -> Condition | None:
    """What the index can answer of a (checked) filter document; None: nothing."""
    condition = _plan(document, prefix)[0]
    if condition is not None and _terms(condition) > MAX_TERMS:
        return None
    return condition


def _terms(condition: Condition) -> int:
    if isinstance(condition, Term):
        return 1
    if isinstance(condition, NoneOf):
        return _terms(condition.condition)
    return sum(_terms(part) for part in (condition.parts if isinstance(condition, AllOf) else condition.branches))


def _plan(document: dict[str, Any], prefix: str, positive: bool = False) -> tuple[Condition | None, bool]:
    """The condition, and whether it is exactly the document's (every part of it answered by
    terms that say exactly what it matches): only then may it be negated. ``positive``: no
    negation at all (inside ``$elemMatch``, where a negation is about one element, and an
    index of the whole document cannot say it)."""
    parts: list[Condition] = []
    exact = True
    for key, value in document.items():
        if key in ("$and", "$or", "$nor"):
            branches = [_plan(branch, prefix, positive) for branch in value]
            every = all(condition is not None for condition, _ in branches)
            known = [condition for condition, _ in branches if condition is not None]
            all_exact = every and all(whole for _, whole in branches)
            if key == "$and":
                parts += known
                exact = exact and all_exact
            elif key == "$or" and every:
                parts.append(AnyOf(tuple(known)))
                exact = exact and all_exact
            elif key == "$nor" and all_exact and not positive:
                parts.append(NoneOf(AnyOf(tuple(known))))
            else:
                exact = False
        elif not key.startswith("$"):
            found, whole = _field(prefix + key, value, positive)
            parts += found
            exact = exact and whole
    if not parts:
        return None, False
    return (parts[0] if len(parts) == 1 else AllOf(tuple(parts))), exact


def _field(path: str, condition: Any, positive: bool = False) -> tuple[list[Condition], bool]:
    """The conditions of one field's condition, and whether they are exactly it."""
    if any(part.isdigit() for part in split_path(path)):
        return [], False  # a position (or a digit field name): not in the index's paths
    if not (isinstance(condition, dict) and any(key.startswith("$") for key in condition)):
        literal = _equal(path, condition)
        return literal, bool(literal)
    found: list[Condition] = []
    exact = True
    for op, operand in condition.items():
        before = len(found)
        if op == "$options":
            continue
        if positive and op in ("$ne", "$nin", "$not"):
            exact = False
            continue
        if op in ("$eq", "$ne"):
            equal = _equal(path, operand)
            found += equal if op == "$eq" else [NoneOf(c) for c in equal]
        elif op in _OPERATORS:
            kind = _kind(operand)
            if kind is not None:
                found.append(Term(path, kind, _OPERATORS[op], operand))
        elif op in ("$in", "$nin") and operand and all(_kind(v) is not None for v in operand):
            branches = [Term(path, kind, "in", [v for v in operand if _kind(v) == kind]) for kind in _kinds(operand)]
            one: Condition = branches[0] if len(branches) == 1 else AnyOf(tuple(branches))
            found.append(one if op == "$in" else NoneOf(one))
        elif op == "$all" and operand and all(_kind(v) is not None for v in operand):
            found += [Term(path, _kind(v) or "", "=", v) for v in operand]
        elif op == "$regex":
            found.append(Term(path, "string", "regex", (operand, condition.get("$options", ""))))
        elif op == "$not":
            inner, whole = _field(path, operand)
            if whole:
                found.append(NoneOf(inner[0] if len(inner) == 1 else AllOf(tuple(inner))))
        elif op == "$elemMatch":  # a superset only: the index does not say which element held what
            if all(key.startswith("$") for key in operand):
                # the elements' own values; an $elemMatch in it is about arrays inside the array,
                # which the index does not enter
                values = {key: item for key, item in operand.items() if key != "$elemMatch"}
                found += _field(path, values, positive=True)[0]
            elif (inner_plan := _plan(operand, f"{path}.", positive=True)[0]) is not None:
                found.append(inner_plan)
            exact = False
        if len(found) == before:
            exact = False  # this operator is left to the evaluator
    return found, exact and bool(found)


def _equal(path: str, operand: Any) -> list[Condition]:
    kind = _kind(operand)
    return [] if kind is None else [Term(path, kind, "=", operand)]


def _kind(value: Any) -> str | None:
    """The bracket of an operand the index holds (no null, arrays or objects)."""
    kind = bracket(value)
    return None if kind in (None, "null") else kind


def _kinds(values: list[Any]) -> list[str]:
    return sorted({_kind(v) or "" for v in values})


def exists(condition: Condition) -> tuple[str, list[Any]]:
    """SQL true for the asset ``a`` if it holds what ``condition`` asks (by its terms)."""
    if isinstance(condition, Term):
        rows, params = condition.rows()
        return f"EXISTS (SELECT 1 FROM asset_index AS t WHERE t.asset_id = a.asset_id AND {rows})", params
    if isinstance(condition, NoneOf):
        sql, params = exists(condition.condition)
        return f"NOT {sql}", params
    pieces = [exists(part) for part in (condition.parts if isinstance(condition, AllOf) else condition.branches)]
    joiner = " AND " if isinstance(condition, AllOf) else " OR "
    return "(" + joiner.join(sql for sql, _ in pieces) + ")", [p for _, params in pieces for p in params]


def conjuncts(condition: Condition) -> list[Condition]:
    return list(condition.parts) if isinstance(condition, AllOf) else [condition]


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str, options: str) -> Any:
    re_options = re2.Options()
    re_options.log_errors = False
    re_options.max_mem = 8 << 20
    flags = "".join(sorted(set(options) & set(REGEX_OPTIONS)))
    return re2.compile(f"(?{flags}){pattern}" if flags else pattern, re_options)


def regex_matches(pattern: str, options: str, value: Any) -> bool:
    """The SQL function: ``value`` matches as the evaluator's ``$regex`` (a final newline also
    tried away, as PCRE's ``$``); the evaluator checked the pattern before."""
    if not isinstance(value, str):
        return False
    search = _compiled(pattern, options).search
    if search(value) is not None:
        return True
    return "\\z" not in pattern and value.endswith("\n") and search(value[:-1]) is not None
