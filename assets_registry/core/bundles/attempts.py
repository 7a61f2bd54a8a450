"""One attempt at ingesting one staged archive: what it has learnt, and its lease.

An upload job is claimed by a worker, maybe several times (a worker that dies loses it to
the next claim); each claim is an ``Attempt``. It renews the job's lease while bytes flow,
counts progress for status answers, and knows every blob it may have written, so a failure
can delete exactly those. Only ``ingest`` changes what an attempt knows; the use cases read it.

Nothing here is tied to how the archive arrived: ``renew`` is any lease (a job tracker's for
an upload, another for an archive fetched from a URL).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from assets_registry.core.bundles.archive import MemberStream
from assets_registry.core.bundles.early_unpack import EarlyManifest
from assets_registry.core.bundles.errors import LeaseLost
from assets_registry.core.bundles.keys import bucket_of, file_key
from assets_registry.core.bundles.rules import BundlePlan
from assets_registry.core.ports import JobTracker, UploadJob

READ_CHUNK = 1 << 20


@dataclass
class Attempt:
    upload_id: str
    """Whose blobs these are: every key the attempt writes is under it (``keys.file_key``)."""
    staged_key: str
    number: int
    """Claims of the job so far, this one included (1 on a first attempt)."""
    renew: Callable[[dict[str, Any]], bool]
    """Extend the lease, recording progress; False once another worker holds the job."""
    lease_seconds: float
    asset_id: str | None = None
    plan: BundlePlan | None = None
    early: EarlyManifest | None = None
    stored_keys: list[str] | None = None
    received: list[str] = field(default_factory=list)
    """The blobs the staged archive was received into (a resumable upload's parts): its own,
    deleted with it when the job ends, never the asset's."""
    bytes_done: int = 0
    files_done: int = 0
    _totals: tuple[int | None, int | None] = (None, None)
    _renewed_at: float = field(default_factory=time.monotonic)

    @classmethod
    def of_job(cls, job: UploadJob, worker: str, jobs: JobTracker, lease_seconds: float) -> Attempt:
        """This worker's attempt at an upload job it has claimed."""
        renew = partial(jobs.renew, job.upload_id, worker, lease_seconds)
        return cls(job.upload_id, job.staged_key, job.attempts, renew, lease_seconds)

    def progress(self) -> dict[str, Any]:
        plan = self.plan
        bytes_total, files_total = (plan.unpacked_bytes, len(plan.members)) if plan else self._totals
        return {
            "bytes_done": self.bytes_done,
            "bytes_total": bytes_total,
            "files_done": self.files_done,
            "files_total": files_total,
        }

    def heartbeat(self, force: bool = False) -> None:
        """Renew the lease if a quarter of it has passed; raise ``LeaseLost`` if it is gone."""
        if force or time.monotonic() - self._renewed_at > self.lease_seconds / 4:
            if not self.renew(self.progress()):
                raise LeaseLost(self.upload_id)
            self._renewed_at = time.monotonic()

    def chunks(self, source: MemberStream) -> Iterator[bytes]:
        """A member's bytes from its stream, counted, renewing the lease as they flow."""
        while chunk := source.read(READ_CHUNK):
            self.bytes_done += len(chunk)
            self.heartbeat()
            yield chunk

    def member_key(self, name: str) -> str:
        return file_key(self.upload_id, name, bucket_of(self.staged_key))

    def member_keys(self) -> list[str]:
        """Every blob this attempt may have written: the members', and those stored early."""
        if self.stored_keys is not None:
            return self.stored_keys
        keys = [self.member_key(m.name) for m in self.plan.members] if self.plan else []
        known = set(keys)
        return keys + [k for k in (self.early.keys() if self.early else []) if k not in known]

    def forget_archive(self) -> None:
        """Keep only the keys the attempt wrote: the archive's index (an entry per member) and
        the early manifest can go."""
        self.stored_keys = self.member_keys()
        if self.plan is not None:
            self._totals = (self.plan.unpacked_bytes, len(self.plan.members))
        self.plan = None
        self.early = None
