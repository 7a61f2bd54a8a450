"""The embedded SQLite adapters: the port contracts, and what they promise beyond them.

Safe with several processes, lookups served by indexes (their cost does not grow with the
number of assets), nothing lost or stranded across a restart.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assets_registry.adapters.sqlite import (
    SqliteCatalogStore,
    SqliteHistoryStore,
    SqliteJobTracker,
    SqliteMetadataStore,
)
from assets_registry.adapters.sqlite.metadata import _term_source
from assets_registry.core.errors import AssetExists
from assets_registry.core.filters import compile_filter
from assets_registry.core.history import HistoryStore
from assets_registry.core.ports import PROCESSING, QUEUED, CatalogStore, JobTracker, MetadataStore
from assets_registry.core.registry import Registry
from assets_registry.testing import CatalogStoreContract, JobTrackerContract, MetadataStoreContract
from assets_registry.testing.documents import asset_document
from assets_registry.testing.history_contract import HistoryStoreContract


class TestSqliteMetadataStore(MetadataStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[MetadataStore]:
        store = SqliteMetadataStore(tmp_path / "registry.db")
        yield store
        store.close()


class TestSqliteJobTracker(JobTrackerContract):
    @pytest.fixture
    def jobs(self, tmp_path: Path) -> Iterator[JobTracker]:
        tracker = SqliteJobTracker(tmp_path / "jobs.db")
        yield tracker
        tracker.close()


FORK = multiprocessing.get_context("fork")


# -- SQLite metadata: several processes -----------------------------------------------------


def _insert_all(path: str, worker: int, results: multiprocessing.Queue[tuple[int, str, str]]) -> None:
    store = SqliteMetadataStore(Path(path))
    for n in range(40):
        for asset_id in (f"shared-{n:02}", f"own-{worker}-{n:02}"):
            try:
                store.insert(asset_document(asset_id, version=f"v{worker}"))
                results.put((worker, asset_id, "won"))
            except AssetExists:
                results.put((worker, asset_id, "lost"))
            except Exception as exc:  # any other failure is what this test looks for
                results.put((worker, asset_id, f"error: {exc!r}"))
    store.close()


def test_processes_racing_for_ids_each_id_won_once(tmp_path: Path) -> None:
    path = str(tmp_path / "registry.db")
    SqliteMetadataStore(Path(path)).close()
    results: multiprocessing.Queue[tuple[int, str, str]] = FORK.Queue()
    workers = [FORK.Process(target=_insert_all, args=(path, w, results)) for w in range(4)]
    for p in workers:
        p.start()
    outcomes = [results.get(timeout=60) for _ in range(4 * 80)]
    for p in workers:
        p.join(timeout=60)
    assert not [o for o in outcomes if o[2].startswith("error")]
    wins: dict[str, int] = {}
    for _worker, asset_id, outcome in outcomes:
        wins[asset_id] = wins.get(asset_id, 0) + (outcome == "won")
    assert all(count == 1 for count in wins.values())
    assert len(wins) == 40 + 4 * 40
    store = SqliteMetadataStore(Path(path))
    assert len(store.find(compile_filter({}), 1000).documents) == 200


def _update_field(path: str, field: str, rounds: int) -> None:
    registry = Registry(SqliteMetadataStore(Path(path)))
    for n in range(rounds):
        registry.update("asset-001", {field: f"{field}-{n}"})


def test_processes_updating_different_fields_lose_no_update(tmp_path: Path) -> None:
    path = str(tmp_path / "registry.db")
    # The parent's store stays open across the fork on purpose: children that closed (or let the
    # garbage collector close) the inherited connection lost their own locks, and updates.
    Registry(SqliteMetadataStore(Path(path))).create(asset_document("asset-001"))
    fields = ["asset_brief_description", "asset_workflow_id", "asset_container_uri"]
    workers = [FORK.Process(target=_update_field, args=(path, f, 30)) for f in fields]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=120)
    assert [p.exitcode for p in workers] == [0, 0, 0]
    stored = SqliteMetadataStore(Path(path)).get("asset-001")
    assert [stored.document[f] for f in fields] == [f"{f}-29" for f in fields]
    assert stored.revision == 1 + 3 * 30


# -- SQLite metadata: indexes ---------------------------------------------------------------


def _vm_steps(store: SqliteMetadataStore, call: object) -> int:
    """SQLite virtual-machine steps (in hundreds) that ``call()`` costs on this thread's connection."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn = store.db.get()
    conn.set_progress_handler(count, 100)
    try:
        call()  # type: ignore[operator]
    finally:
        conn.set_progress_handler(None, 0)
    return steps


def test_lookups_and_indexed_searches_cost_the_same_however_many_assets_there_are(tmp_path: Path) -> None:
    store = SqliteMetadataStore(tmp_path / "registry.db")
    for n in range(10):
        store.insert(asset_document(f"rare-{n}", asset_type="rare", sub_type="rare", tags=["rare"], routes=["rare"]))

    def lookups() -> None:
        assert len(store.find_by_type("rare", 100).documents) == 10
        assert len(store.find_by_sub_type("rare", 100).documents) == 10
        assert len(store.find_by_tag("rare", 100).documents) == 10
        assert len(store.find_by_api_route("/rare", 100).documents) == 10
        assert len(store.find(compile_filter({"profiles.asset_type": "rare"}), 100).documents) == 10
        # any scalar path is indexed: equality, ranges and $in on it cost what their answers do
        assert store.find(compile_filter({"asset_version": "nowhere"}), 100).documents == []
        assert store.find(compile_filter({"asset_version": {"$gt": "v9"}}), 100).documents == []
        assert len(store.find(compile_filter({"apis.asset_api_route": {"$in": ["rare", "x"]}}), 100).documents) == 10

    def scan() -> None:  # a negation: no index can answer it, every asset is evaluated
        assert store.find(compile_filter({"asset_version": {"$ne": "v1"}}), 100).documents == []

    small_lookups, small_scan = _vm_steps(store, lookups), _vm_steps(store, scan)
    for n in range(6000):
        store.insert(asset_document(f"common-{n:05}", tags=["common"], routes=["/common"]))
    big_lookups, big_scan = _vm_steps(store, lookups), _vm_steps(store, scan)
    assert big_scan > 20 * max(small_scan, 1), "the scan should grow with the data (else this test measures nothing)"
    assert big_lookups <= small_lookups * 1.2 + 5, f"lookups grew from {small_lookups} to {big_lookups} x100 VM steps"


@pytest.mark.parametrize("values", [["model"], ["api/x", "/api/x"]])
def test_lookup_query_plans_use_indexes_only(tmp_path: Path, values: list[str]) -> None:
    store = SqliteMetadataStore(tmp_path / "registry.db")
    sql, params = _term_source("profiles.asset_type", values)
    plan = store.db.get().execute(f"EXPLAIN QUERY PLAN {sql} ORDER BY asset_id LIMIT 10", (*params, "")).fetchall()
    details = [row[3] for row in plan]
    assert details
    assert not [d for d in details if d.startswith("SCAN")], details


# -- SQLite: restarts -----------------------------------------------------------------------


def test_assets_survive_a_restart(tmp_path: Path) -> None:
    store = SqliteMetadataStore(tmp_path / "registry.db")
    store.insert(asset_document("asset-001", tags=["t"]))
    store.close()
    reopened = SqliteMetadataStore(tmp_path / "registry.db")
    assert reopened.get("asset-001").document == asset_document("asset-001", tags=["t"])
    assert [d["asset_id"] for d in reopened.find_by_tag("t", 10).documents] == ["asset-001"]


def test_a_restart_neither_loses_nor_strands_a_job(tmp_path: Path) -> None:
    before = SqliteJobTracker(tmp_path / "jobs.db")
    before.submit("queued-one", "staging/a")
    time.sleep(0.01)
    before.submit("in-flight", "staging/b")
    assert before.claim("worker-that-dies", 0.2) is not None  # takes queued-one (oldest)
    before.close()  # the process "crashes" here: no finish, no renew

    after = SqliteJobTracker(tmp_path / "jobs.db")
    assert after.get("queued-one").status == PROCESSING
    assert after.get("in-flight").status == QUEUED
    first = after.claim("new-worker", 60)
    assert first is not None and first.upload_id == "in-flight"
    time.sleep(0.25)
    retaken = after.claim("new-worker", 60)
    assert retaken is not None and (retaken.upload_id, retaken.attempts) == ("queued-one", 2)


def _claim_all(path: str, name: str, results: multiprocessing.Queue[str]) -> None:
    tracker = SqliteJobTracker(Path(path))
    while (job := tracker.claim(name, 60)) is not None:
        results.put(job.upload_id)
    results.put("done")


def test_processes_claiming_jobs_take_each_once(tmp_path: Path) -> None:
    path = str(tmp_path / "jobs.db")
    tracker = SqliteJobTracker(Path(path))
    for n in range(40):
        tracker.submit(f"u{n:02}", "s")
    results: multiprocessing.Queue[str] = FORK.Queue()
    workers = [FORK.Process(target=_claim_all, args=(path, f"w{i}", results)) for i in range(3)]
    for p in workers:
        p.start()
    taken: list[str] = []
    done = 0
    while done < 3:
        item = results.get(timeout=60)
        if item == "done":
            done += 1
        else:
            taken.append(item)
    for p in workers:
        p.join(timeout=60)
    assert sorted(taken) == [f"u{n:02}" for n in range(40)]


class TestSqliteCatalogStore(CatalogStoreContract):
    @pytest.fixture
    def catalog(self, tmp_path: Path) -> Iterator[CatalogStore]:
        store = SqliteCatalogStore(tmp_path / "catalog.db")
        yield store
        store.close()


class TestSqliteHistoryStore(HistoryStoreContract):
    @pytest.fixture
    def history(self, tmp_path: Path) -> Iterator[HistoryStore]:
        store = SqliteHistoryStore(tmp_path / "registry.db")
        yield store
        store.close()
