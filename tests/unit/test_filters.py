"""The search language: MongoDB query semantics, the refusals, the limits, the index terms."""

from __future__ import annotations

import time
from typing import Any

import pytest

from assets_registry.core.document_paths import MISSING, compare, equal, string_terms, values_at
from assets_registry.core.errors import InvalidFilter, InvalidInput
from assets_registry.core.filters import MATCH_ALL, FilterLimits, compile_filter

DOC: dict[str, Any] = {
    "asset_id": "a1",
    "asset_version": "v1",
    "n": 5,
    "f": 1.0,
    "b": True,
    "z": None,
    "s": "5",
    "text": "first\nsecond",
    "tags": ["x", "y"],
    "nums": [1, 5, 3],
    "gap": [1, 5],
    "nested": [[1, 2], [3]],
    "obj": {"k": 1, "j": 2},
    "empty_obj": {},
    "profiles": [
        {"asset_type": "model", "asset_sub_type": "llm", "asset_tags": ["gen", "text"], "score": 3},
        {"asset_type": "data", "asset_sub_type": "table", "asset_tags": [], "desc": None},
    ],
}

CASES: list[tuple[dict[str, Any], bool]] = [
    # dotted paths through arrays: any element may match
    ({}, True),
    ({"profiles.asset_type": "model"}, True),
    ({"profiles.asset_type": "data"}, True),
    ({"profiles.asset_type": "tool"}, False),
    ({"profiles.asset_sub_type": "table"}, True),
    ({"profiles.score": 3}, True),
    ({"obj.k": 1}, True),
    ({"obj.k.deeper": None}, True),
    ({"obj.k": 2}, False),
    # numeric segments select a position
    ({"profiles.0.asset_type": "model"}, True),
    ({"profiles.0.asset_type": "data"}, False),
    ({"profiles.1.asset_type": "data"}, True),
    ({"profiles.1.asset_type": "model"}, False),
    ({"profiles.7.asset_type": "model"}, False),
    ({"tags.0": "x"}, True),
    ({"tags.1": "x"}, False),
    ({"tags.01": "y"}, False),
    ({"nested.0": [1, 2]}, True),
    ({"nested.1.0": 3}, True),
    # equality: element of an array, or the whole array (order matters), one array level only
    ({"tags": "x"}, True),
    ({"tags": ["x", "y"]}, True),
    ({"tags": ["y", "x"]}, False),
    ({"tags": ["x"]}, False),
    ({"profiles.asset_tags": "gen"}, True),
    ({"profiles.asset_tags": ["gen", "text"]}, True),
    ({"profiles.asset_tags": ["text", "gen"]}, False),
    ({"profiles.asset_tags": []}, True),
    ({"nested": [1, 2]}, True),
    ({"nested": 1}, False),
    # object equality: same fields, same order, equal values
    ({"obj": {"k": 1, "j": 2}}, True),
    ({"obj": {"j": 2, "k": 1}}, False),
    ({"obj": {"k": 1}}, False),
    ({"obj": {"k": 1, "j": 2.0}}, True),
    ({"obj": {}}, False),
    ({"empty_obj": {}}, True),
    # null matches null and missing fields
    ({"missing": None}, True),
    ({"z": None}, True),
    ({"n": None}, False),
    ({"profiles.desc": None}, True),
    ({"profiles.asset_type": None}, False),
    ({"obj.missing": None}, True),
    # type brackets
    ({"n": 5.0}, True),
    ({"f": 1}, True),
    ({"n": "5"}, False),
    ({"s": 5}, False),
    ({"b": 1}, False),
    ({"b": True}, True),
    ({"n": True}, False),
    ({"z": False}, False),
    ({"z": 0}, False),
    ({"s": "5"}, True),
    # $eq, $ne
    ({"n": {"$eq": 5}}, True),
    ({"n": {"$eq": 6}}, False),
    ({"tags": {"$eq": "y"}}, True),
    ({"tags": {"$eq": ["x", "y"]}}, True),
    ({"missing": {"$eq": None}}, True),
    ({"b": {"$eq": 1}}, False),
    ({"n": {"$ne": 5}}, False),
    ({"n": {"$ne": 6}}, True),
    ({"n": {"$ne": "5"}}, True),
    ({"tags": {"$ne": "x"}}, False),
    ({"tags": {"$ne": "q"}}, True),
    ({"missing": {"$ne": None}}, False),
    ({"z": {"$ne": None}}, False),
    ({"n": {"$ne": None}}, True),
    ({"missing": {"$ne": 1}}, True),
    # ranges compare within a type bracket only
    ({"n": {"$gt": 4}}, True),
    ({"n": {"$gt": 5}}, False),
    ({"n": {"$gte": 5}}, True),
    ({"n": {"$gte": 5.0}}, True),
    ({"n": {"$lt": 5.5}}, True),
    ({"n": {"$lt": 5}}, False),
    ({"n": {"$lte": 5}}, True),
    ({"n": {"$lte": 4.9}}, False),
    ({"n": {"$gt": "4"}}, False),
    ({"n": {"$lt": "6"}}, False),
    ({"s": {"$lt": 6}}, False),
    ({"s": {"$gte": "5"}}, True),
    ({"s": {"$gt": "4"}}, True),
    ({"b": {"$gt": 0}}, False),
    ({"b": {"$gte": 1}}, False),
    ({"b": {"$gt": False}}, True),
    ({"n": {"$gt": False}}, False),
    ({"asset_version": {"$lt": "v2"}}, True),
    ({"asset_version": {"$gt": "v1"}}, False),
    ({"asset_version": {"$gt": "V1"}}, True),
    ({"tags": {"$gt": "x"}}, True),
    ({"tags": {"$gt": "y"}}, False),
    ({"nums": {"$gt": 4, "$lt": 2}}, True),
    ({"profiles.score": {"$gt": 2}}, True),
    ({"profiles.score": {"$gt": 3}}, False),
    ({"missing": {"$gt": 0}}, False),
    ({"missing": {"$gte": None}}, True),
    ({"missing": {"$lte": None}}, True),
    ({"z": {"$gte": None}}, True),
    ({"missing": {"$gt": None}}, False),
    ({"n": {"$gte": None}}, False),
    ({"obj": {"$gt": 0}}, False),
    # $in, $nin
    ({"n": {"$in": [1, 5]}}, True),
    ({"n": {"$in": [1.0, 5.0]}}, True),
    ({"n": {"$in": ["5"]}}, False),
    ({"n": {"$in": []}}, False),
    ({"tags": {"$in": ["q", "y"]}}, True),
    ({"tags": {"$in": [["x", "y"]]}}, True),
    ({"tags": {"$in": [["y", "x"]]}}, False),
    ({"profiles.asset_tags": {"$in": [[]]}}, True),
    ({"missing": {"$in": [None]}}, True),
    ({"z": {"$in": [None, 7]}}, True),
    ({"n": {"$in": [None]}}, False),
    ({"b": {"$in": [1]}}, False),
    ({"n": {"$nin": [5]}}, False),
    ({"n": {"$nin": [6, "5"]}}, True),
    ({"n": {"$nin": []}}, True),
    ({"tags": {"$nin": ["x"]}}, False),
    ({"tags": {"$nin": ["q"]}}, True),
    ({"missing": {"$nin": [None]}}, False),
    ({"missing": {"$nin": [1]}}, True),
    ({"n": {"$nin": [None]}}, True),
    # $exists
    ({"n": {"$exists": True}}, True),
    ({"n": {"$exists": False}}, False),
    ({"missing": {"$exists": True}}, False),
    ({"missing": {"$exists": False}}, True),
    ({"z": {"$exists": True}}, True),
    ({"profiles.desc": {"$exists": True}}, True),
    ({"profiles.nothing": {"$exists": False}}, True),
    ({"profiles.1.score": {"$exists": True}}, False),
    ({"n": {"$exists": 1}}, True),
    ({"n": {"$exists": 0}}, False),
    # $regex, $options
    ({"asset_version": {"$regex": "^v"}}, True),
    ({"asset_version": {"$regex": "^V"}}, False),
    ({"asset_version": {"$regex": "^V", "$options": "i"}}, True),
    ({"asset_version": {"$options": "i", "$regex": "^V1$"}}, True),
    ({"asset_version": {"$regex": "1"}}, True),
    ({"tags": {"$regex": "^y$"}}, True),
    ({"tags": {"$regex": "^q"}}, False),
    ({"profiles.asset_type": {"$regex": "^dat"}}, True),
    ({"n": {"$regex": "5"}}, False),
    ({"s": {"$regex": "5"}}, True),
    ({"missing": {"$regex": ".*"}}, False),
    ({"text": {"$regex": "^second"}}, False),
    ({"text": {"$regex": "^second", "$options": "m"}}, True),
    ({"text": {"$regex": "first$"}}, False),
    ({"text": {"$regex": "first$", "$options": "m"}}, True),
    ({"text": {"$regex": "first.second"}}, False),
    ({"text": {"$regex": "first.second", "$options": "s"}}, True),
    ({"text": {"$regex": "^FIRST.SECOND$", "$options": "is"}}, True),
    ({"text": {"$regex": "^FIRST.SECOND$", "$options": ""}}, False),
    # $all
    ({"tags": {"$all": ["x", "y"]}}, True),
    ({"tags": {"$all": ["y"]}}, True),
    ({"tags": {"$all": ["x", "q"]}}, False),
    ({"tags": {"$all": []}}, False),
    ({"missing": {"$all": []}}, False),
    ({"profiles.asset_tags": {"$all": ["gen", "text"]}}, True),
    ({"profiles.asset_tags": {"$all": ["gen", "other"]}}, False),
    ({"n": {"$all": [5]}}, True),
    ({"n": {"$all": [5, 6]}}, False),
    # $size
    ({"tags": {"$size": 2}}, True),
    ({"tags": {"$size": 1}}, False),
    ({"profiles": {"$size": 2}}, True),
    ({"profiles.asset_tags": {"$size": 0}}, True),
    ({"profiles.asset_tags": {"$size": 2}}, True),
    ({"profiles.asset_tags": {"$size": 1}}, False),
    ({"n": {"$size": 1}}, False),
    ({"missing": {"$size": 0}}, False),
    ({"s": {"$size": 1}}, False),
    ({"tags": {"$size": 2.0}}, True),
    # $elemMatch, value form: one element satisfies every condition
    ({"nums": {"$elemMatch": {"$gt": 2, "$lt": 4}}}, True),
    ({"gap": {"$elemMatch": {"$gt": 2, "$lt": 4}}}, False),
    ({"gap": {"$gt": 2, "$lt": 4}}, True),
    ({"tags": {"$elemMatch": {"$regex": "^y"}}}, True),
    ({"tags": {"$elemMatch": {"$in": ["q", "x"]}}}, True),
    ({"tags": {"$elemMatch": {"$ne": "x"}}}, True),
    ({"tags": {"$elemMatch": {"$eq": "q"}}}, False),
    ({"nested": {"$elemMatch": {"$eq": [3]}}}, True),
    ({"nested": {"$elemMatch": {"$size": 2}}}, True),
    ({"nested": {"$elemMatch": {"$eq": 3}}}, False),
    ({"n": {"$elemMatch": {"$gt": 1}}}, False),
    ({"missing": {"$elemMatch": {"$exists": False}}}, False),
    # $elemMatch, query form: one element object satisfies every condition
    ({"profiles": {"$elemMatch": {"asset_type": "model", "asset_sub_type": "llm"}}}, True),
    ({"profiles": {"$elemMatch": {"asset_type": "model", "asset_sub_type": "table"}}}, False),
    ({"profiles.asset_type": "model", "profiles.asset_sub_type": "table"}, True),
    ({"profiles": {"$elemMatch": {"asset_tags": "gen", "score": {"$gte": 3}}}}, True),
    ({"profiles": {"$elemMatch": {"desc": None, "asset_type": "data"}}}, True),
    ({"profiles": {"$elemMatch": {"$or": [{"asset_type": "tool"}, {"score": 3}]}}}, True),
    ({"profiles": {"$elemMatch": {"$and": [{"asset_type": "data"}, {"score": 3}]}}}, False),
    ({"tags": {"$elemMatch": {"x": None}}}, False),
    # $and, $or, $nor, and implicit and
    ({"n": 5, "s": "5"}, True),
    ({"n": 5, "s": 5}, False),
    ({"$and": [{"n": 5}, {"b": True}]}, True),
    ({"$and": [{"n": 5}, {"b": False}]}, False),
    ({"$or": [{"n": 6}, {"b": True}]}, True),
    ({"$or": [{"n": 6}, {"b": False}]}, False),
    ({"$nor": [{"n": 6}, {"b": False}]}, True),
    ({"$nor": [{"n": 5}]}, False),
    ({"$or": [{"$and": [{"n": 5}, {"z": None}]}, {"missing": 1}], "tags": "x"}, True),
    ({"$and": [{"$or": [{"n": 1}, {"n": 2}]}, {"b": True}]}, False),
    # field-level $not
    ({"asset_version": {"$not": {"$regex": "^v2"}}}, True),
    ({"asset_version": {"$not": {"$regex": "^V1", "$options": "i"}}}, False),
    ({"missing": {"$not": {"$gt": 1}}}, True),
    ({"n": {"$not": {"$gt": 1}}}, False),
    ({"n": {"$not": {"$gt": 5}}}, True),
    ({"tags": {"$not": {"$in": ["x"]}}}, False),
    ({"tags": {"$not": {"$size": 3}}}, True),
    ({"n": {"$not": {"$not": {"$eq": 5}}}}, True),
]


@pytest.mark.parametrize(("flt", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_filters_follow_mongodb_semantics(flt: dict[str, Any], expected: bool) -> None:
    assert compile_filter(flt).matches(DOC) is expected


def test_compiling_keeps_the_filter_document() -> None:
    flt = {"profiles.asset_type": "model", "$or": [{"n": 1}]}
    assert compile_filter(flt).document == flt


def test_the_empty_filter_matches_every_document() -> None:
    assert MATCH_ALL.matches(DOC)
    assert MATCH_ALL.matches({})
    assert MATCH_ALL.document == {}


def test_a_filter_selects_exactly_the_right_documents_of_a_set() -> None:
    documents: list[dict[str, Any]] = [
        {"asset_id": "a", "profiles": [{"asset_type": "model", "asset_tags": ["gen"]}]},
        {"asset_id": "b", "profiles": [{"asset_type": "data", "asset_tags": []}, {"asset_type": "model"}]},
        {"asset_id": "c", "profiles": []},
        {"asset_id": "d"},
    ]
    by_type = compile_filter({"profiles.asset_type": "model"})
    assert [d["asset_id"] for d in documents if by_type.matches(d)] == ["a", "b"]
    no_tags = compile_filter({"profiles.asset_tags": None})
    assert [d["asset_id"] for d in documents if no_tags.matches(d)] == ["b", "c", "d"]
    no_profiles = compile_filter({"profiles": {"$size": 0}})
    assert [d["asset_id"] for d in documents if no_profiles.matches(d)] == ["c"]


def test_a_pathological_regex_runs_in_linear_time() -> None:
    flt = compile_filter({"s": {"$regex": "(a+)+$"}})
    started = time.perf_counter()
    assert not flt.matches({"s": "a" * 200_000 + "!"})
    assert flt.matches({"s": "a" * 200_000})
    assert time.perf_counter() - started < 2.0


# -- refusals, each naming the path of the offending key -----------------------------------

REFUSALS: list[tuple[Any, str, str]] = [
    ({"$where": "this.n == 5"}, "$where", "$where is not allowed: it runs JavaScript on the server"),
    ({"$function": {"body": "x"}}, "$function", "$function is not allowed: it runs JavaScript on the server"),
    ({"$accumulator": {}}, "$accumulator", "$accumulator is not allowed: it runs JavaScript on the server"),
    ({"$expr": {"$eq": ["$n", 5]}}, "$expr", "$expr is not allowed: it evaluates aggregation expressions"),
    ({"$jsonSchema": {}}, "$jsonSchema", "$jsonSchema is not allowed: it is not part of the search language"),
    ({"n": {"$where": "1"}}, "n.$where", "$where is not allowed"),
    ({"n": {"$function": {}}}, "n.$function", "$function is not allowed"),
    ({"n": {"$accumulator": {}}}, "n.$accumulator", "$accumulator is not allowed"),
    ({"n": {"$expr": {}}}, "n.$expr", "$expr is not allowed"),
    ({"n": {"$jsonSchema": {}}}, "n.$jsonSchema", "$jsonSchema is not allowed"),
    ({"$or": [{"n": 1}, {"$where": "1"}]}, "$or[1].$where", "$where is not allowed"),
    ({"$and": [{"n": {"$not": {"$expr": 1}}}]}, "$and[0].n.$not.$expr", "$expr is not allowed"),
    ({"$foo": [{}]}, "$foo", "$foo is not an accepted operator at this level"),
    ({"$text": {"$search": "x"}}, "$text", "$text is not an accepted operator at this level"),
    ({"n": {"$foo": 1}}, "n.$foo", "$foo is not an accepted operator on a field"),
    ({"n": {"$mod": [2, 1]}}, "n.$mod", "$mod is not an accepted operator on a field"),
    ({"n": {"$and": [{}]}}, "n.$and", "$and is not an accepted operator on a field"),
    ({"a$b": 1}, "a$b", "contains '$'"),
    ({"a.$b": 1}, "a.$b", "contains '$'"),
    ({"profiles.$.asset_type": 1}, "profiles.$.asset_type", "contains '$'"),
    ({"a\x00b": 1}, "a\x00b", "NUL"),
    ({"a..b": 1}, "a..b", "has an empty segment"),
    ({".a": 1}, ".a", "has an empty segment"),
    ({"a.": 1}, "a.", "has an empty segment"),
    ({"": 1}, "", "has an empty segment"),
    ({"n": {"$gt": 1, "k": 2}}, "n", "cannot mix operators ($...) and field names in one object"),
    ({"n": {"k": 2, "$gt": 1}}, "n", "cannot mix operators"),
    ({"n": {"$options": "i"}}, "n.$options", "$options needs a $regex beside it"),
    ({"n": {"$not": {"$options": "i"}}}, "n.$not.$options", "$options needs a $regex beside it"),
    ({"n": {"$regex": "a", "$options": "x"}}, "n.$options", "$options accepts only the letters 'ims'"),
    ({"n": {"$regex": "a", "$options": "u"}}, "n.$options", "$options accepts only the letters"),
    ({"n": {"$regex": "a", "$options": 1}}, "n.$options", "$options accepts only the letters"),
    ({"n": {"$regex": 5}}, "n.$regex", "$regex takes a string"),
    ({"n": {"$regex": "(a)\\1"}}, "n.$regex", "not a valid RE2 expression"),
    ({"n": {"$regex": "(?=a)b"}}, "n.$regex", "not a valid RE2 expression"),
    ({"n": {"$regex": "(?<!a)b"}}, "n.$regex", "not a valid RE2 expression"),
    ({"n": {"$regex": "(unclosed"}}, "n.$regex", "not a valid RE2 expression"),
    ({"n": {"$in": "a"}}, "n.$in", "$in takes an array of values"),
    ({"n": {"$nin": {"a": 1}}}, "n.$nin", "$nin takes an array of values"),
    ({"n": {"$all": "a"}}, "n.$all", "$all takes an array of values"),
    ({"n": {"$size": -1}}, "n.$size", "$size takes a non-negative whole number"),
    ({"n": {"$size": 1.5}}, "n.$size", "$size takes a non-negative whole number"),
    ({"n": {"$size": True}}, "n.$size", "$size takes a non-negative whole number"),
    ({"n": {"$size": "1"}}, "n.$size", "$size takes a non-negative whole number"),
    ({"n": {"$exists": "yes"}}, "n.$exists", "$exists takes true or false"),
    ({"n": {"$exists": 2}}, "n.$exists", "$exists takes true or false"),
    ({"n": {"$gt": [1]}}, "n.$gt", "$gt compares with a number, string, boolean or null"),
    ({"n": {"$lte": {"a": 1}}}, "n.$lte", "$lte compares with a number"),
    ({"n": {"$not": 5}}, "n.$not", "$not takes an object of operators"),
    ({"n": {"$not": {}}}, "n.$not", "$not takes an object of operators"),
    ({"n": {"$not": {"a": 1}}}, "n.$not", "$not takes an object of operators"),
    ({"n": {"$elemMatch": {}}}, "n.$elemMatch", "$elemMatch takes a non-empty object of conditions"),
    ({"n": {"$elemMatch": [1]}}, "n.$elemMatch", "$elemMatch takes a non-empty object of conditions"),
    ({"n": {"$elemMatch": {"$where": "1"}}}, "n.$elemMatch.$where", "$where is not allowed"),
    ({"n": {"$elemMatch": {"a": {"$bad": 1}}}}, "n.$elemMatch.a.$bad", "$bad is not an accepted operator"),
    ({"n": {"a": {"$gt": 1}}}, "n.a.$gt", "a literal object may not have '$' field names"),
    ({"n": {"$eq": {"$gt": 1}}}, "n.$eq.$gt", "a literal object may not have '$' field names"),
    ({"n": {"$ne": {"a": {"$x": 1}}}}, "n.$ne.a.$x", "a literal object may not have '$' field names"),
    ({"n": {"$in": [1, {"$gt": 1}]}}, "n.$in[1].$gt", "a literal object may not have '$' field names"),
    ({"n": {"$all": [[{"$gt": 1}]]}}, "n.$all[0][0].$gt", "a literal object may not have '$' field names"),
    ({"n": [{"$x": 1}]}, "n[0].$x", "a literal object may not have '$' field names"),
    ({"$and": []}, "$and", "$and takes a non-empty array of conditions"),
    ({"$or": {}}, "$or", "$or takes a non-empty array of conditions"),
    ({"$nor": "x"}, "$nor", "$nor takes a non-empty array of conditions"),
    ({"$or": [1]}, "$or[0]", "expected a JSON object of conditions"),
    ([], "", "expected a JSON object of conditions"),
    ("n", "", "expected a JSON object of conditions"),
    (None, "", "expected a JSON object of conditions"),
]


@pytest.mark.parametrize(("flt", "path", "fragment"), REFUSALS, ids=[repr(r[0]) for r in REFUSALS])
def test_refused_filters_name_the_offending_path(flt: Any, path: str, fragment: str) -> None:
    with pytest.raises(InvalidFilter) as caught:
        compile_filter(flt)
    error = caught.value
    assert error.code == "invalid_filter"
    assert isinstance(error, InvalidInput)
    assert len(error.errors) == 1
    assert error.errors[0].path == path
    assert fragment in error.errors[0].message
    where = path or "(the filter)"
    assert error.message.startswith(f"The filter is invalid at {where}: ")


def nested_and(depth: int) -> dict[str, Any]:
    flt: dict[str, Any] = {"n": 5}
    for _ in range(depth):
        flt = {"$and": [flt]}
    return flt


def test_moderate_nesting_is_accepted() -> None:
    assert compile_filter(nested_and(7)).matches(DOC)


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    with pytest.raises(InvalidFilter, match="nests deeper than 16 levels"):
        compile_filter(nested_and(20))


def test_deeply_nested_literals_are_refused() -> None:
    value: Any = 1
    for _ in range(40):
        value = [value]
    with pytest.raises(InvalidFilter, match="nests deeper than 16 levels") as caught:
        compile_filter({"n": value})
    assert caught.value.errors[0].path.startswith("n[0][0]")


def test_the_depth_limit_is_configurable() -> None:
    compile_filter(nested_and(2), FilterLimits(max_depth=8))
    with pytest.raises(InvalidFilter, match="deeper than 3 levels"):
        compile_filter(nested_and(2), FilterLimits(max_depth=3))


def test_too_many_parts_are_refused() -> None:
    huge = {"$or": [{"n": i} for i in range(1500)]}
    with pytest.raises(InvalidFilter, match="more than 2000 parts"):
        compile_filter(huge)
    with pytest.raises(InvalidFilter, match="more than 2000 parts"):
        compile_filter({"n": {"$in": list(range(2500))}})


def test_the_size_limit_is_configurable() -> None:
    flt = {"$or": [{"n": i} for i in range(10)]}
    assert compile_filter(flt, FilterLimits(max_nodes=100)).matches(DOC)
    with pytest.raises(InvalidFilter, match="more than 10 parts"):
        compile_filter(flt, FilterLimits(max_nodes=10))


def test_long_patterns_are_refused() -> None:
    compile_filter({"s": {"$regex": "a" * 1000}})
    with pytest.raises(InvalidFilter, match="longer than 1000 characters") as caught:
        compile_filter({"s": {"$regex": "a" * 1001}})
    assert caught.value.errors[0].path == "s.$regex"
    with pytest.raises(InvalidFilter, match="longer than 5 characters"):
        compile_filter({"s": {"$regex": "abcdef"}}, FilterLimits(max_regex_length=5))


# -- required terms (what an index may narrow a search by) ---------------------------------

TERMS: list[tuple[dict[str, Any], list[tuple[str, set[str]]]]] = [
    ({}, []),
    ({"asset_id": "a"}, [("asset_id", {"a"})]),
    (
        {"asset_id": "a", "profiles.asset_type": {"$eq": "model"}},
        [("asset_id", {"a"}), ("profiles.asset_type", {"model"})],
    ),
    ({"t": {"$in": ["a", "b"]}}, [("t", {"a", "b"})]),
    ({"t": {"$in": ["a", 1]}}, []),
    ({"t": {"$in": ["a", None]}}, []),
    ({"t": {"$in": []}}, []),
    ({"t": {"$all": ["a", "b"]}}, [("t", {"a"}), ("t", {"b"})]),
    ({"t": {"$all": ["a", 2]}}, []),
    ({"t": {"$eq": "a", "$in": ["a", "b"]}}, [("t", {"a"}), ("t", {"a", "b"})]),
    ({"$and": [{"t": "a"}, {"u": {"$eq": "b"}}]}, [("t", {"a"}), ("u", {"b"})]),
    ({"$and": [{"$and": [{"t": "a"}]}]}, [("t", {"a"})]),
    ({"$and": [{"$or": [{"t": "a"}]}]}, []),
    ({"$or": [{"t": "a"}]}, []),
    ({"$or": [{"t": "a"}, {"t": "b"}]}, []),
    ({"$nor": [{"t": "a"}]}, []),
    ({"t": 5}, []),
    ({"t": None}, []),
    ({"t": ["a"]}, []),
    ({"t": {"$eq": 5}}, []),
    ({"t": {"$ne": "a"}}, []),
    ({"t": {"$nin": ["a"]}}, []),
    ({"t": {"$not": {"$eq": "a"}}}, []),
    ({"t": {"$elemMatch": {"$eq": "a"}}}, []),
    ({"t": {"$regex": "^a"}}, []),
    ({"t": {"$gte": "a"}}, []),
]


@pytest.mark.parametrize(("flt", "expected"), TERMS, ids=[repr(t[0]) for t in TERMS])
def test_required_terms_come_from_conditions_every_match_satisfies(
    flt: dict[str, Any], expected: list[tuple[str, set[str]]]
) -> None:
    assert compile_filter(flt).required_terms == tuple((p, frozenset(v)) for p, v in expected)


# -- the document path rules the evaluator is built on -------------------------------------


def test_values_at_follows_mongodbs_path_rules() -> None:
    assert values_at(DOC, ("profiles", "asset_type")) == ["model", "data"]
    assert values_at(DOC, ("profiles", "desc")) == [MISSING, None]
    assert "model" in values_at(DOC, ("profiles", "0", "asset_type"))
    assert values_at(DOC, ("nested", "x")) == [MISSING]
    assert values_at(DOC, ("n", "x")) == [MISSING]
    assert values_at(DOC, ("tags",)) == [["x", "y"]]
    assert values_at({"a": []}, ("a", "b")) == [MISSING]


def test_string_terms_hold_reached_strings_and_elements_of_reached_arrays() -> None:
    assert string_terms(DOC, ("profiles", "asset_tags")) == {"gen", "text"}
    assert string_terms(DOC, ("profiles", "asset_type")) == {"model", "data"}
    assert string_terms(DOC, ("n",)) == set()
    assert string_terms(DOC, ("missing",)) == set()


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        (True, True, True),
        ("1", 1, False),
        (None, None, True),
        (None, False, False),
        ([1, 2], [1, 2.0], True),
        ([1, 2], [2, 1], False),
        ({"a": 1, "b": 2}, {"a": 1, "b": 2}, True),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, False),
        ({"a": [True]}, {"a": [1]}, False),
        ([], {}, False),
    ],
)
def test_equality_is_mongodbs(a: Any, b: Any, expected: bool) -> None:
    assert equal(a, b) is expected
    assert equal(b, a) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (1, 2, -1),
        (2.5, 2, 1),
        (1, 1.0, 0),
        ("b", "a", 1),
        ("Z", "a", -1),
        ("é", "z", 1),
        (False, True, -1),
        (None, None, 0),
        (MISSING, None, 0),
        (1, "1", None),
        (True, 1, None),
        ([1], [1], None),
        ({}, 1, None),
    ],
)
def test_comparison_stays_within_a_type_bracket(a: Any, b: Any, expected: int | None) -> None:
    assert compare(a, b) == expected
