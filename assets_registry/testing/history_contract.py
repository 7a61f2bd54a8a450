"""The contract every ``HistoryStore`` adapter passes.

Subclass ``HistoryStoreContract`` in a ``Test*`` class and override the ``history`` fixture.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from assets_registry.core.errors import InvalidCursor, RevisionNotFound
from assets_registry.core.history import Change, HistoryStore


def _change(action: str = "asset.updated", asset_id: str | None = "a", actor: str = "ci", at: float = 100.0,
            revision_after: int | None = 1) -> Change:  # fmt: skip
    return Change(action, actor, at, asset_id=asset_id, bucket="default", revision_after=revision_after)


class HistoryStoreContract:
    @pytest.fixture
    def history(self) -> Iterator[HistoryStore]:
        raise NotImplementedError("override the history fixture with a fresh, empty store")

    def test_changes_come_back_in_the_order_they_were_made(self, history: HistoryStore) -> None:
        for n in range(5):
            history.append(_change(asset_id=f"a{n}", at=100.0 + n))
        found, cursor = history.changes(10)
        assert [c["asset_id"] for c in found] == [f"a{n}" for n in range(5)] and cursor is None
        assert {k: found[0][k] for k in ("action", "actor", "bucket", "revision_after")} == {
            "action": "asset.updated", "actor": "ci", "bucket": "default", "revision_after": 1}  # fmt: skip
        assert all(isinstance(c["id"], str) for c in found)

    def test_changes_page_and_filter(self, history: HistoryStore) -> None:
        for n in range(7):
            history.append(_change(asset_id="a" if n % 2 else "b", actor="x" if n < 3 else "y", at=100.0 + n))
        first, cursor = history.changes(3)
        assert len(first) == 3 and cursor is not None
        rest, end = history.changes(10, cursor)
        assert [c["at"] for c in first + rest] == [100.0 + n for n in range(7)] and end is None
        assert [c["at"] for c in history.changes(10, asset_id="a")[0]] == [101.0, 103.0, 105.0]
        assert [c["at"] for c in history.changes(10, actor="x")[0]] == [100.0, 101.0, 102.0]
        assert [c["at"] for c in history.changes(10, since=102.0, until=104.0)[0]] == [102.0, 103.0]
        assert [c["at"] for c in history.changes(10, asset_id="a", actor="y", since=104.0)[0]] == [105.0]

    def test_a_cursor_it_did_not_make_is_refused(self, history: HistoryStore) -> None:
        with pytest.raises(InvalidCursor):
            history.changes(10, "'; DROP TABLE x")

    def test_versions_are_kept_as_numbered_revisions(self, history: HistoryStore) -> None:
        for revision in (1, 2):
            history.append(_change(revision_after=revision), {"asset_id": "a", "v": revision})
        history.append(_change(action="asset.deleted", revision_after=None))
        history.append(_change(action="asset.created", revision_after=1), {"asset_id": "a", "v": "again"})
        listed, cursor = history.revisions("a", 10)
        assert [(r["n"], r["revision"]) for r in listed] == [(1, 1), (2, 2), (3, 1)] and cursor is None
        assert "document" not in listed[0]
        assert history.revision("a", 3)["document"] == {"asset_id": "a", "v": "again"}
        assert history.revision("a", 1)["document"]["v"] == 1
        with pytest.raises(RevisionNotFound):
            history.revision("a", 4)
        page, cursor = history.revisions("a", 2)
        assert [r["n"] for r in page] == [1, 2] and cursor == 2
        assert [r["n"] for r in history.revisions("a", 2, cursor)[0]] == [3]
        assert history.revisions("other", 10) == ([], None)

    def test_prune_keeps_the_newest(self, history: HistoryStore) -> None:
        for n in range(1, 6):
            history.append(_change(revision_after=n, at=float(n)), {"asset_id": "a", "v": n})
        assert history.prune("a", 3, None) == 2
        assert [r["n"] for r in history.revisions("a", 10)[0]] == [3, 4, 5]
        assert history.prune("a", 0, 4.5) == 2
        assert [r["n"] for r in history.revisions("a", 10)[0]] == [5]
        assert history.prune("a", 0, 1000.0) == 0, "the newest revision always stays"
        assert len(history.changes(100)[0]) == 5, "changes are never pruned"

    def test_racing_writers_never_share_a_revision_number(self, history: HistoryStore) -> None:
        def write(worker: int) -> None:
            for n in range(10):
                history.append(_change(revision_after=n), {"asset_id": "a", "w": worker, "n": n})

        threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        numbers = [r["n"] for r in history.revisions("a", 100)[0]]
        assert numbers == list(range(1, 41))
