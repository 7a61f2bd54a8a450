"""Threads that run upload jobs: inside each server process, or in ``assets-registry worker``.

Each thread claims a job from the job tracker, runs it, and looks again; when there is
nothing to do it sleeps ``poll_seconds`` or until ``wake()`` (called when this process
queues an upload, so a job starts at once). Several server processes each run their own
threads against the same tracker: a claim hands a job to exactly one of them.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
from types import FrameType

from assets_registry.apps import logs
from assets_registry.apps.metrics import job_ended
from assets_registry.core.bundles import Bundles
from assets_registry.core.bundles.janitor import Janitor
from assets_registry.core.sources import SourceImports
from assets_registry.core.sources.reasons import job_reason

log = logging.getLogger("assets_registry.workers")


class BundleWorkers:
    def __init__(self, bundles: Bundles, threads: int = 2, poll_seconds: float = 1.0) -> None:
        self.bundles = bundles
        self.threads = threads
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> BundleWorkers:
        base = f"{socket.gethostname()}:{os.getpid()}"
        for n in range(self.threads):
            thread = threading.Thread(target=self._loop, args=(f"{base}:{n}",), name=f"bundle-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self, name: str) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                job = self.bundles.run_next(name)
                if job is not None:
                    ended = self.bundles.status(job.upload_id)
                    seconds, reason = time.monotonic() - started, job_reason(ended.status)
                    job_ended(reason, seconds)
                    logs.job_ended(job.upload_id, reason, ended.asset_id, seconds)
            except Exception:  # a backend hiccup must not kill the thread
                log.exception("worker %s could not take a job", name)
                job = None
            if job is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()


class SourceControllers:
    """Threads that import due sources and check buckets (``core.sources``), like the job threads."""

    def __init__(
        self, imports: SourceImports, threads: int = 1, poll_seconds: float = 1.0, bucket_check_seconds: float = 60.0
    ) -> None:
        self.imports = imports
        self.threads = threads
        self.poll_seconds = poll_seconds
        self.bucket_check_seconds = bucket_check_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> SourceControllers:
        base = f"{socket.gethostname()}:{os.getpid()}"
        try:
            self.imports.store.ensure_default_bucket()
        except Exception:
            log.exception("the default bucket could not be made; the bucket checks will try again")
        for n in range(self.threads):
            thread = threading.Thread(
                target=self._loop, args=(f"{base}:s{n}", n == 0), name=f"sources-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _loop(self, name: str, checks_buckets: bool) -> None:
        while not self._stop.is_set():
            try:
                if checks_buckets:
                    self.imports.store.check_buckets(self.bucket_check_seconds)
                record = self.imports.run_next(name)
            except Exception:  # a backend hiccup must not kill the thread
                log.exception("source controller %s could not take a source", name)
                record = None
            if record is None:
                self._stop.wait(self.poll_seconds)


class Sweeps:
    """The orphan sweep every ``interval`` seconds (with up to 10 % of jitter, so the workers
    of a fleet do not all sweep at once), on a thread of its own; 0 never sweeps."""

    def __init__(self, janitor: Janitor, interval: float) -> None:
        self.janitor = janitor
        self.interval = interval
        self._stop = threading.Event()

    def start(self) -> Sweeps:
        if self.interval > 0:
            threading.Thread(target=self._loop, name="orphan-sweep", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval * random.uniform(0.9, 1.0)):
            try:
                report = self.janitor.sweep()
                if report.refused:
                    log.warning("orphan sweep: %s", report.refused)
                elif report.orphans:
                    log.info("orphan sweep: %d blobs (%d bytes) deleted", report.deleted, report.orphan_bytes)
            except Exception:  # a backend hiccup: the next sweep tries again
                log.exception("the orphan sweep failed")


def run_worker(
    bundles: Bundles,
    threads: int,
    poll_seconds: float = 1.0,
    grace_seconds: float = 30.0,
    sweeps: Sweeps | None = None,
    controllers: SourceControllers | None = None,
) -> None:
    """``assets-registry worker``: run job threads until SIGTERM or SIGINT, then stop gracefully.

    Jobs still running after ``grace_seconds`` are left to their leases: another worker
    re-runs them once the lease runs out, so stopping never loses a job.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("worker %s: stopping on signal %d", os.getpid(), signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    workers = BundleWorkers(bundles, threads, poll_seconds).start()
    if sweeps is not None:
        sweeps.start()
    if controllers is not None:
        controllers.start()
    log.info("worker %s: %d job threads started", os.getpid(), threads)
    stop.wait()
    if sweeps is not None:
        sweeps.stop()
    if controllers is not None:
        controllers.stop(grace_seconds)
    workers.stop(grace_seconds)
