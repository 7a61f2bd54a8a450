"""Searches on SQLite answered from the index of every scalar path (``search_plan``): what the
index answers, that only its candidates are evaluated, and files from before the index.

That the answers are exactly the evaluator's is the property suite's to show
(``tests/property/test_properties.py``, random documents and filters).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from assets_registry.adapters.sqlite import SqliteMetadataStore
from assets_registry.adapters.sqlite.search_plan import AllOf, AnyOf, NoneOf, Term, plan
from assets_registry.core.filters import Filter, compile_filter
from assets_registry.testing.documents import asset_document


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"asset_version": "v2"}, Term("asset_version", "string", "=", "v2")),
        ({"profiles.asset_metadata.n": {"$gt": 5}}, Term("profiles.asset_metadata.n", "number", ">", 5)),
        ({"a": {"$in": [1, "x"]}}, AnyOf((Term("a", "number", "in", [1]), Term("a", "string", "in", ["x"])))),
        ({"a": {"$regex": "^x", "$options": "i"}}, Term("a", "string", "regex", ("^x", "i"))),
        ({"a": True, "b": {"$lte": "m"}}, AllOf((Term("a", "bool", "=", True), Term("b", "string", "<=", "m")))),
        ({"$or": [{"a": 1}, {"b": 2}]}, AnyOf((Term("a", "number", "=", 1), Term("b", "number", "=", 2)))),
        ({"files": {"$elemMatch": {"id": "x"}}}, Term("files.id", "string", "=", "x")),
        ({"tags": {"$elemMatch": {"$gte": 3}}}, Term("tags", "number", ">=", 3)),
        # negations of what the index answers exactly
        ({"a": {"$ne": 1}}, NoneOf(Term("a", "number", "=", 1))),
        ({"a": {"$nin": ["x"]}}, NoneOf(Term("a", "string", "in", ["x"]))),
        ({"a": {"$not": {"$gt": 1}}}, NoneOf(Term("a", "number", ">", 1))),
        ({"$nor": [{"a": 1}]}, NoneOf(AnyOf((Term("a", "number", "=", 1),)))),
        (
            {"$or": [{"a": 1}, {"b": {"$ne": 2}}]},
            AnyOf((Term("a", "number", "=", 1), NoneOf(Term("b", "number", "=", 2)))),
        ),
    ],
)
def test_what_the_index_answers(document: dict[str, Any], expected: Any) -> None:
    compile_filter(document)  # a filter the language accepts
    assert plan(document) == expected


@pytest.mark.parametrize(
    "document",
    [
        {"a": None},
        {"a": {"$exists": True}},
        {"a": {"$size": 2}},
        {"a": {"$ne": None}},
        {"a": {"$not": {"$size": 1}}},
        {"$nor": [{"a": None}]},
        {"$nor": [{"a": {"$elemMatch": {"b": 1}}}]},  # the index says a superset only: not negated
        {"apis.0.asset_api_route": "x"},  # a position
        {"a": [1, 2]},  # a whole array
        {"a": {"b": 1}},  # a whole object
        {"$or": [{"a": 1}, {"b": {"$size": 2}}]},  # one branch the index cannot answer
        # a negation inside $elemMatch is about one element: no index of the whole says it
        {"a": {"$elemMatch": {"$ne": 1}}},
        {"a": {"$elemMatch": {"b": {"$nin": [1]}}}},
        {"a": {"$elemMatch": {"$nor": [{"b": 1}]}}},
        {"a": {"$elemMatch": {"$elemMatch": {"$eq": 1}}}},  # arrays inside arrays are not indexed
        {"$or": [{"a": f"v{n}"} for n in range(999)]},  # too many terms for one SQL expression
    ],
)
def test_what_no_index_answers_is_left_to_the_evaluator(document: dict[str, Any]) -> None:
    compile_filter(document)
    assert plan(document) is None


def _counting(document: dict[str, Any]) -> tuple[Filter, list[int]]:
    """The filter, evaluating as before, counting the documents it is asked about."""
    compiled, calls = compile_filter(document), [0]

    def predicate(asset: Any) -> bool:
        calls[0] += 1
        return compiled.matches(asset)

    return Filter(document, predicate), calls


def _every_page(store: SqliteMetadataStore, flt: Filter, size: int) -> list[str]:
    """The ids of every answer, page after page."""
    seen: list[str] = []
    after: str | None = None
    while True:
        page = store.find(flt, size, after)
        seen += [d["asset_id"] for d in page.documents]
        if page.next_after is None:
            return seen
        after = page.next_after


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteMetadataStore:
    store = SqliteMetadataStore(tmp_path_factory.mktemp("search") / "registry.db")
    documents = []
    for n in range(2000):
        made = asset_document(f"a-{n:04}", version=f"v{n % 5}", tags=[f"t{n % 100}"], routes=[f"/r{n % 7}"])
        made["profiles"][0]["asset_metadata"] = {"n": n, "half": n % 2 == 0}
        documents.append(made)
    store.insert_many(documents)
    return store


@pytest.mark.parametrize(
    ("document", "answers"),
    [
        ({"asset_version": "v3", "profiles.asset_tags": "t8"}, 20),
        ({"profiles.asset_metadata.n": {"$gte": 1990}}, 10),
        ({"profiles.asset_metadata.n": {"$gt": 10, "$lt": 15}}, 4),
        ({"asset_uri": {"$regex": "a-19[0-9]7$"}}, 10),
        ({"asset_uri": {"$regex": "^models://example\\.com/a-19[0-9]7"}}, 10),
        ({"asset_uri": {"$regex": "^models://example.com/a-19[0-9]7"}}, 10),
        ({"$or": [{"profiles.asset_tags": "t1"}, {"profiles.asset_tags": "t2"}]}, 40),
        ({"profiles": {"$elemMatch": {"asset_tags": "t5", "asset_metadata.half": False}}}, 20),
        ({"profiles.asset_metadata.n": {"$in": [3, 4.0, 5000]}, "asset_version": {"$ne": "v4"}}, 1),
    ],
)
def test_only_the_index_candidates_are_evaluated(
    store: SqliteMetadataStore, document: dict[str, Any], answers: int
) -> None:
    flt, calls = _counting(document)
    page = store.find(flt, 1000)
    assert len(page.documents) == answers
    assert [d["asset_id"] for d in page.documents] == sorted(d["asset_id"] for d in page.documents)
    assert calls[0] <= answers + 2, f"{calls[0]} documents evaluated for {answers} answers"


def test_pages_of_an_indexed_search_follow_each_other(store: SqliteMetadataStore) -> None:
    flt = compile_filter({"profiles.asset_metadata.half": True})
    seen = _every_page(store, flt, 300)
    assert seen == [f"a-{n:04}" for n in range(0, 2000, 2)]


def test_negations_are_answered_in_sql_and_only_their_answers_evaluated(store: SqliteMetadataStore) -> None:
    flt, calls = _counting({"asset_version": {"$nin": ["v0", "v1", "v2", "v3", "v4"]}})
    assert store.find(flt, 10).documents == []
    assert calls[0] == 0
    flt, calls = _counting({"asset_version": {"$ne": "v1"}, "profiles.asset_metadata.n": {"$not": {"$gte": 10}}})
    assert [d["asset_id"] for d in store.find(flt, 100).documents] == [f"a-{n:04}" for n in range(10) if n % 5 != 1]
    assert calls[0] == 8


def test_a_negation_many_assets_hold_is_answered_as_every_asset_but_those(
    store: SqliteMetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assets_registry.adapters.sqlite import metadata, search_plan

    monkeypatch.setattr(search_plan, "SMALL", 100)  # 2,000 assets: "many" at this scale
    document = {"asset_version": {"$nin": ["v0", "v1", "v2"]}, "profiles.asset_tags": {"$ne": "t3"}}
    with store.db.read() as conn:
        source, _params = metadata._candidate_source(conn, plan(document))
    assert " EXCEPT " in source
    flt, calls = _counting(document)
    seen = _every_page(store, flt, 300)
    assert seen == [f"a-{n:04}" for n in range(2000) if n % 5 in (3, 4) and n % 100 != 3]
    assert calls[0] <= len(seen) + 3  # the SQL found the answers (and one past each of the 3 pages)


@pytest.mark.parametrize(
    ("document", "filter_document"),
    [
        ({"a": [1, 2]}, {"a": {"$elemMatch": {"$ne": 1}}}),
        ({"a": [{"b": 1}, {"b": 2}]}, {"a": {"$elemMatch": {"b": {"$ne": 1}}}}),
        ({"a": [{"c": 2}, {"b": 1}]}, {"a": {"$elemMatch": {"c": 2, "$nor": [{"b": 1}]}}}),
        ({"a": [[1, 2]]}, {"a": {"$elemMatch": {"$elemMatch": {"$eq": 1}}}}),
        ({"a": [[{"b": 1}]]}, {"a": {"$elemMatch": {"$elemMatch": {"b": 1}}}}),
    ],
)
def test_what_an_element_holds_is_found_however_the_index_sees_it(
    tmp_path: Path, document: dict[str, Any], filter_document: dict[str, Any]
) -> None:
    store = SqliteMetadataStore(tmp_path / "registry.db")
    store.insert(_with_metadata(document))
    flt = compile_filter({f"profiles.asset_metadata.{k}": v for k, v in filter_document.items()})
    assert flt.matches(store.get("e-1").document)
    assert [d["asset_id"] for d in store.find(flt, 10).documents] == ["e-1"]
    store.close()


def _with_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    made = asset_document("e-1")
    made["profiles"][0]["asset_metadata"] = metadata
    return made


def test_a_search_the_index_cannot_answer_is_evaluated_on_every_asset(store: SqliteMetadataStore) -> None:
    flt, calls = _counting({"profiles.asset_metadata": {"$size": 3}})
    assert store.find(flt, 10).documents == []
    assert calls[0] == 2000


def test_a_file_from_before_the_index_is_indexed_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE assets (id INTEGER PRIMARY KEY, asset_id TEXT NOT NULL UNIQUE, revision INTEGER NOT NULL, "
        "document TEXT NOT NULL);"
        "CREATE TABLE asset_terms (path TEXT NOT NULL, value TEXT NOT NULL, asset_id TEXT NOT NULL, "
        "PRIMARY KEY (path, value, asset_id)) WITHOUT ROWID;"
    )
    for n in range(3):
        document = asset_document(f"old-{n}", version=f"v{n}", tags=["kept"])
        old.execute("INSERT INTO assets (asset_id, revision, document) VALUES (?, 1, ?)",
                    (document["asset_id"], msgspec.json.encode(document).decode()))  # fmt: skip
        old.execute("INSERT INTO asset_terms VALUES ('profiles.asset_tags', 'kept', ?)", (document["asset_id"],))
    old.commit()
    old.close()
    store = SqliteMetadataStore(path)
    assert [d["asset_id"] for d in store.find(compile_filter({"asset_version": "v1"}), 10).documents] == ["old-1"]
    assert len(store.find_by_tag("kept", 10).documents) == 3
    tables = {row[0] for row in store.db.get().execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "asset_terms" not in tables and "asset_index" in tables
    store.close()
