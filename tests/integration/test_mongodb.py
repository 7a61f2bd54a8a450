"""The MongoDB metadata store against a real server (SecantusDB), and its pure parts alone.

The store passes the same contract as the embedded one; on top of that: filter paths are
moved under ``doc.`` exactly where they are field paths, a down server is a quick
``BackendUnavailable`` from every method, lookups are served by their indexes, and the URL is
a MongoDB connection string that pymongo receives as written, minus our own ``collection``.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings

from assets_registry.adapters.mongodb import make_metadata_store
from assets_registry.adapters.mongodb.queries import search_query, to_stored_paths
from assets_registry.adapters.mongodb.store import BACKEND, MongoMetadataStore
from assets_registry.adapters.mongodb.uri import parse_target
from assets_registry.core.errors import BackendUnavailable, ConfigurationError, InvalidInput
from assets_registry.core.filters import MATCH_ALL, compile_filter
from assets_registry.core.history import HistoryStore
from assets_registry.core.lookups import Lookup
from assets_registry.core.ports import CatalogStore, MetadataStore
from assets_registry.plugins.manager import Plugins
from assets_registry.plugins.types import AdapterContext, BackendURL
from assets_registry.testing.catalog_contract import CatalogStoreContract
from assets_registry.testing.documents import asset_document
from assets_registry.testing.history_contract import HistoryStoreContract
from assets_registry.testing.metadata_contract import CORPUS, MetadataStoreContract
from tests.property.strategies import asset_documents
from tests.servers import free_port
from tests.servers.secantusdb import fresh_mongo_store

pytestmark = pytest.mark.real_servers


class TestMongoMetadataStore(MetadataStoreContract):
    @pytest.fixture
    def store(self, mongodb_store: MongoMetadataStore) -> MetadataStore:
        return mongodb_store


# -- filter paths under doc. ------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "stored"),
    [
        ({}, {}),
        ({"asset_id": "a", "profiles.asset_type": {"$in": ["m"]}},
         {"doc.asset_id": "a", "doc.profiles.asset_type": {"$in": ["m"]}}),
        ({"$or": [{"a": 1}, {"$and": [{"b": 2}, {"$nor": [{"c.d": 3}]}]}]},
         {"$or": [{"doc.a": 1}, {"$and": [{"doc.b": 2}, {"$nor": [{"doc.c.d": 3}]}]}]}),
        ({"profiles": {"$elemMatch": {"asset_type": "m", "$or": [{"asset_tags": "x"}]}}},
         {"doc.profiles": {"$elemMatch": {"asset_type": "m", "$or": [{"asset_tags": "x"}]}}}),
        ({"asset_metadata": {"nested.key": 1, "other": {"deep": 2}}},
         {"doc.asset_metadata": {"nested.key": 1, "other": {"deep": 2}}}),
        ({"asset_version": {"$not": {"$regex": "^v"}}, "apis.0.asset_api_route": {"$exists": True}},
         {"doc.asset_version": {"$not": {"$regex": "^v"}}, "doc.apis.0.asset_api_route": {"$exists": True}}),
        ({"doc": 1, "_id": "x", "revision": 2}, {"doc.doc": 1, "doc._id": "x", "doc.revision": 2}),
    ],
)  # fmt: skip
def test_filter_field_paths_move_under_doc_and_nothing_else_does(user: dict[str, Any], stored: dict[str, Any]) -> None:
    compile_filter(user)  # only valid filters reach the translation
    assert to_stored_paths(user) == stored
    assert list(to_stored_paths(user)) == list(stored)


def test_the_page_condition_sits_beside_the_translated_filter() -> None:
    assert search_query({"$or": [{"a": 1}]}, None) == {"$or": [{"doc.a": 1}]}
    assert search_query({"a": 1}, "k") == {"doc.a": 1, "_id": {"$gt": "k"}}


def test_user_filters_never_see_the_wrapper_fields(mongodb_store: MongoMetadataStore) -> None:
    mongodb_store.insert(asset_document("x"))
    for flt in ({"_id": "x"}, {"revision": 1}, {"doc.asset_id": "x"}, {"_id": {"$exists": True}}):
        assert mongodb_store.find(compile_filter(flt), 10).documents == [], flt
    assert len(mongodb_store.find(compile_filter({"asset_id": "x"}), 10).documents) == 1


def test_each_asset_is_one_record_keyed_by_its_id(mongodb_store: MongoMetadataStore) -> None:
    document = asset_document("x", version="v1")
    mongodb_store.insert(document)
    mongodb_store.update("x", asset_document("x", version="v2"), 1)
    record = mongodb_store.collection.find_one({"_id": "x"})
    assert record is not None
    assert list(record) == ["_id", "revision", "doc"]
    assert (record["revision"], record["doc"]["asset_version"]) == (2, "v2")


def test_an_index_the_operator_made_on_the_same_keys_serves_the_lookup(mongodb_url: str) -> None:
    with fresh_mongo_store(mongodb_url) as store:
        store.collection.create_index([("doc.profiles.asset_type", 1), ("_id", 1)], name="made_by_ops")
        store.insert(asset_document("x", asset_type="model"))
        assert [d["asset_id"] for d in store.find_by_type("model", 10).documents] == ["x"]
        assert "made_by_ops" in store.collection.index_information()


# -- documents are returned exactly as stored -------------------------------------------


@pytest.fixture(scope="module")
def shared_store(mongodb_url: str) -> Iterator[MongoMetadataStore]:
    with fresh_mongo_store(mongodb_url) as store:
        yield store


def _nul_in_a_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any("\x00" in key or _nul_in_a_key(item) for key, item in value.items())
    return isinstance(value, list) and any(_nul_in_a_key(item) for item in value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=asset_documents())
def test_every_valid_asset_comes_back_byte_identical(
    shared_store: MongoMetadataStore, document: dict[str, Any]
) -> None:
    shared_store.collection.delete_many({})
    if _nul_in_a_key(document):
        # BSON field names are C strings. The core accepts such keys (see the report on
        # core.json_values.check_storable); this store refuses them as the client's mistake.
        with pytest.raises(InvalidInput):
            shared_store.insert(document)
        return
    shared_store.insert(document)
    again = shared_store.get(document["asset_id"]).document
    # Same key order, 1 stays 1 and 1.0 stays 1.0, true stays true, int64 stays a plain int.
    assert msgspec.json.encode(again) == msgspec.json.encode(document)
    assert msgspec.json.encode(shared_store.find(MATCH_ALL, 5).documents) == msgspec.json.encode([document])


def test_a_document_mongodb_cannot_hold_is_invalid_input(mongodb_store: MongoMetadataStore) -> None:
    document = asset_document("nul", asset_brief_description="ok")
    document["profiles"][0]["asset_metadata"] = {"a\x00b": 1}  # BSON keys are C strings
    with pytest.raises(InvalidInput):
        mongodb_store.insert(document)


# -- lookups are index scans ------------------------------------------------------------


def _stages(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield plan
    for key in ("inputStage", "queryPlan"):
        if isinstance(plan.get(key), Mapping):
            yield from _stages(plan[key])
    for child in plan.get("inputStages", []):
        yield from _stages(child)


@pytest.mark.parametrize(
    ("lookup", "value"),
    [
        (Lookup.TYPE, "model"),
        (Lookup.SUB_TYPE, "llm"),
        (Lookup.TAG, "generative"),
        (Lookup.API_ROUTE, "api/v1/generate"),
    ],
)
def test_lookups_are_served_by_their_compound_index(
    mongodb_store: MongoMetadataStore, lookup: Lookup, value: str
) -> None:
    for document in CORPUS:
        mongodb_store.insert(document)
    for n in range(40):  # assets the lookup must not touch
        mongodb_store.insert(asset_document(f"other-{n:02}", asset_type="t", sub_type="s", tags=["u"], routes=["/r"]))
    mongodb_store.find_by_type("warm-up", 1)  # the indexes exist once the store has been used
    hinted = MongoMetadataStore(f"{mongodb_store.target.client_uri}?lookup_hints=true&collection="
                                f"{mongodb_store.collection.name}")  # fmt: skip
    try:
        matches = len(mongodb_store.lookup_cursor(lookup, value, 100).to_list())
        assert matches == len(hinted.lookup_cursor(lookup, value, 100).to_list()) > 0
        for store, after in ((mongodb_store, None), (hinted, None), (hinted, "a")):  # the planner's choice, or told
            explained = store.lookup_cursor(lookup, value, 10, after=after).explain()
            scans = [s for s in _stages(explained["queryPlanner"]["winningPlan"]) if s.get("stage") == "IXSCAN"]
            assert scans, explained["queryPlanner"]["winningPlan"]
            assert all(list(s["keyPattern"]) == [f"doc.{lookup.path}", "_id"] for s in scans)
            assert explained["executionStats"]["totalDocsExamined"] <= matches
    finally:
        hinted.close()


# -- a server that does not answer ------------------------------------------------------


def test_every_method_of_a_store_without_server_is_unavailable_within_seconds() -> None:
    url = f"mongodb://registry:s3cret-pw@127.0.0.1:{free_port()}/assets?serverSelectionTimeoutMS=1000"
    store = MongoMetadataStore(url)  # building it does not wait for the server
    document = asset_document("a")
    calls: dict[str, Callable[[], object]] = {
        "check": store.check,
        "insert": lambda: store.insert(document),
        "get": lambda: store.get("a"),
        "update": lambda: store.update("a", document, 1),
        "delete": lambda: store.delete("a"),
        "find": lambda: store.find(MATCH_ALL, 10),
        "find_by_type": lambda: store.find_by_type("model", 10),
        "find_by_sub_type": lambda: store.find_by_sub_type("llm", 10),
        "find_by_tag": lambda: store.find_by_tag("x", 10),
        "find_by_api_route": lambda: store.find_by_api_route("/x", 10),
    }
    try:
        for name, call in calls.items():
            started = time.monotonic()
            with pytest.raises(BackendUnavailable) as caught:
                call()
            assert time.monotonic() - started < 3, name
            assert caught.value.backend == BACKEND
            assert "s3cret" not in caught.value.message
            assert len(caught.value.message) < 500
    finally:
        store.close()


# -- the URL ----------------------------------------------------------------------------


def test_a_replica_set_url_is_passed_to_pymongo_as_written_minus_our_collection_option() -> None:
    url = (
        "mongodb://reg%40ops:p%40ss@db1.invalid:27017,db2.invalid:27018/assets?replicaSet=rs0"
        "&collection=things&authSource=admin&w=majority&readPreference=primaryPreferred&tls=false"
        "&serverSelectionTimeoutMS=1500&lookup_hints=true"
    )
    target = parse_target(url)
    assert target.collection == "things" and target.lookup_hints
    assert "collection" not in target.client_uri and "lookup_hints" not in target.client_uri
    assert not parse_target("mongodb://db.invalid/x").lookup_hints
    with pytest.raises(ConfigurationError, match="lookup_hints takes true or false"):
        parse_target("mongodb://db.invalid/x?lookup_hints=maybe")
    assert "serverSelectionTimeoutMS" not in target.client_options
    assert target.scrub("auth failed for p@ss / p%40ss") == "auth failed for *** / ***"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pymongo warns about options it does not know
        store = MongoMetadataStore(url)  # no connection is made here
    try:
        options = store.client.options
        assert options.replica_set_name == "rs0"
        assert options.server_selection_timeout == 1.5
        assert options.retry_writes is True
        assert options.write_concern.document == {"w": "majority"}
        assert store.collection.full_name == "assets.things"
        assert "p@ss" not in repr(store) and "p%40ss" not in repr(store.target)
    finally:
        store.close()


def test_defaults_database_collection_and_a_short_server_selection_timeout() -> None:
    store = MongoMetadataStore("mongodb://127.0.0.1:1")
    try:
        assert store.collection.full_name == "assets_registry.assets"
        assert store.client.options.server_selection_timeout == 5.0
    finally:
        store.close()


def test_an_srv_name_that_does_not_resolve_is_unavailable_not_a_crash_at_start() -> None:
    store = MongoMetadataStore(
        "mongodb+srv://cluster0.example.invalid/db?serverSelectionTimeoutMS=1000&connectTimeoutMS=1000"
    )
    try:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable):
            store.check()
        assert time.monotonic() - started < 3
    finally:
        store.close()


def test_both_schemes_are_offered_by_the_plugin(tmp_path: Path) -> None:
    plugins = Plugins.load()
    for scheme in ("mongodb", "mongodb+srv"):
        spec = plugins.adapter_spec("metadata", scheme)
        assert spec.factory is make_metadata_store
        assert "collection" in spec.options
    context = AdapterContext(BackendURL("mongodb://127.0.0.1:1/reg?collection=c"), tmp_path)
    store = plugins.make_adapter("metadata", context)
    try:
        assert isinstance(store, MongoMetadataStore)
        assert isinstance(store, MetadataStore)
        assert store.collection.full_name == "reg.c"
    finally:
        store.close()


def test_the_plugin_imports_without_pymongo_and_says_what_to_install() -> None:
    script = """
import sys
sys.modules["pymongo"] = None  # as if the mongodb extra were not installed
from pathlib import Path
from assets_registry.adapters import mongodb
from assets_registry.core.errors import ConfigurationError
from assets_registry.plugins.types import AdapterContext, BackendURL
assert [(s.port, s.scheme) for s in mongodb.assets_registry_adapters()] == [
    ("metadata", "mongodb"), ("metadata", "mongodb+srv"), ("catalog", "mongodb"), ("catalog", "mongodb+srv"),
    ("history", "mongodb"), ("history", "mongodb+srv"),
]
for make in (mongodb.make_metadata_store, mongodb.make_catalog_store, mongodb.make_history_store):
    try:
        make(AdapterContext(BackendURL("mongodb://h/db"), Path(".")))
    except ConfigurationError as exc:
        print(exc.message)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.count("pip install 'assets-registry[mongodb]'") == 3, done.stdout


class TestMongoCatalogStore(CatalogStoreContract):
    @pytest.fixture
    def catalog(self, mongodb_url: str) -> Iterator[CatalogStore]:
        from assets_registry.adapters.mongodb.catalog import MongoCatalogStore

        database = f"test_{uuid.uuid4().hex[:16]}"
        store = MongoCatalogStore(f"{mongodb_url}/{database}")
        try:
            yield store
        finally:
            store._connection.client.drop_database(database)
            store.close()


class TestMongoHistoryStore(HistoryStoreContract):
    @pytest.fixture
    def history(self, mongodb_url: str) -> Iterator[HistoryStore]:
        from assets_registry.adapters.mongodb.history import MongoHistoryStore

        database = f"test_{uuid.uuid4().hex[:16]}"
        store = MongoHistoryStore(f"{mongodb_url}/{database}")
        try:
            yield store
        finally:
            store._connection.client.drop_database(database)
            store.close()
