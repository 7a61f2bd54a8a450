"""The contract every ``JobTracker`` adapter passes.

Subclass ``JobTrackerContract`` in a ``Test*`` class and override the ``jobs`` fixture.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from assets_registry.core.errors import Conflict, JobNotFound
from assets_registry.core.ports import PROCESSING, QUEUED, SUCCESS, CountsOpenJobs, JobTracker, failed


class JobTrackerContract:
    @pytest.fixture
    def jobs(self) -> Iterator[JobTracker]:
        raise NotImplementedError("override the jobs fixture with a fresh, empty tracker")

    def test_a_submitted_job_is_queued(self, jobs: JobTracker) -> None:
        jobs.submit("u1", "staging/u1.zip")
        job = jobs.get("u1")
        assert (job.upload_id, job.status, job.staged_key, job.attempts) == (
            "u1",
            QUEUED,
            "staging/u1.zip",
            0,
        )
        assert not job.finished

    def test_an_upload_id_is_submitted_once(self, jobs: JobTracker) -> None:
        jobs.submit("u1", "a")
        with pytest.raises(Conflict):
            jobs.submit("u1", "b")

    def test_unknown_jobs_are_not_found(self, jobs: JobTracker) -> None:
        with pytest.raises(JobNotFound):
            jobs.get("nope")

    def test_claim_takes_the_oldest_queued_job_once(self, jobs: JobTracker) -> None:
        for n in range(3):
            jobs.submit(f"u{n}", f"s{n}")
            time.sleep(0.002)
        claimed = [jobs.claim("w", 60) for _ in range(4)]
        assert [j.upload_id if j else None for j in claimed] == ["u0", "u1", "u2", None]
        assert all(j.status == PROCESSING and j.attempts == 1 for j in claimed if j)
        assert jobs.get("u0").status == PROCESSING

    def test_the_holder_renews_and_finishes(self, jobs: JobTracker) -> None:
        jobs.submit("u1", "s")
        assert jobs.claim("w1", 60) is not None
        assert jobs.renew("u1", "w1", 60, progress={"bytes": 10})
        assert not jobs.renew("u1", "w2", 60)
        assert not jobs.finish("u1", "w2", SUCCESS)
        assert jobs.get("u1").progress == {"bytes": 10}
        assert jobs.finish("u1", "w1", SUCCESS, asset_id="asset-001")
        job = jobs.get("u1")
        assert (job.status, job.asset_id, job.finished) == (SUCCESS, "asset-001", True)
        assert not jobs.renew("u1", "w1", 60)
        assert jobs.claim("w1", 60) is None

    def test_failed_status_keeps_the_reason(self, jobs: JobTracker) -> None:
        jobs.submit("u1", "s")
        jobs.claim("w", 60)
        jobs.finish("u1", "w", failed("asset.json is missing"))
        assert jobs.get("u1").status == "failed: asset.json is missing"

    def test_an_expired_lease_hands_the_job_to_another_worker(self, jobs: JobTracker) -> None:
        jobs.submit("u1", "s")
        assert jobs.claim("dead", 0.05) is not None
        assert jobs.claim("alive", 60) is None
        time.sleep(0.1)
        taken = jobs.claim("alive", 60)
        assert taken is not None and taken.upload_id == "u1" and taken.attempts == 2
        assert not jobs.finish("u1", "dead", SUCCESS)
        assert jobs.finish("u1", "alive", SUCCESS)

    def test_each_claim_of_a_job_whose_workers_keep_dying_counts(self, jobs: JobTracker) -> None:
        jobs.submit("u1", "s")
        for attempt in (1, 2, 3):
            job = jobs.claim(f"dies-{attempt}", 0.01)
            assert job is not None and job.attempts == attempt
            time.sleep(0.03)
        last = jobs.claim("survivor", 60)
        assert last is not None and last.attempts == 4
        assert jobs.finish("u1", "survivor", failed("the upload was interrupted 3 times"))
        assert jobs.claim("next", 60) is None

    def test_concurrent_claims_hand_each_job_to_one_worker(self, jobs: JobTracker) -> None:
        for n in range(20):
            jobs.submit(f"u{n:02}", "s")
        taken: list[str] = []
        lock = threading.Lock()

        def work(name: str) -> None:
            while (job := jobs.claim(name, 60)) is not None:
                with lock:
                    taken.append(job.upload_id)

        threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(taken) == [f"u{n:02}" for n in range(20)]

    def test_check_passes_on_a_working_backend(self, jobs: JobTracker) -> None:
        jobs.check()

    def test_open_jobs_are_counted_by_state(self, jobs: JobTracker) -> None:
        assert isinstance(jobs, CountsOpenJobs), "the built-in trackers count their open jobs (/metrics)"
        before = jobs.open_jobs()
        jobs.submit("count-1", "staging/count-1.zip")
        jobs.submit("count-2", "staging/count-2.zip")
        claimed = jobs.claim("w1", 60)
        assert claimed is not None
        assert jobs.open_jobs() == {QUEUED: before[QUEUED] + 1, PROCESSING: before[PROCESSING] + 1}
        assert jobs.finish(claimed.upload_id, "w1", SUCCESS, "a")
        assert jobs.open_jobs() == {QUEUED: before[QUEUED] + 1, PROCESSING: before[PROCESSING]}
