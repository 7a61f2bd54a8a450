"""MongoDB + S3 + Redis together, with separate ``assets-registry worker`` processes.

The HTTP suite runs once on the embedded default and once on this stack. Its servers and
its two worker processes start once per session (workers take seconds to start, so they
cannot be started per test); between tests ``reset()`` empties the collection, the bucket
and the Redis database, after waiting for the workers to be idle.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.served import registry_process
from tests.servers.redis import RedisServer
from tests.servers.seaweedfs import S3Server

STACK_LEASE_SECONDS = "5"
_ACTIVE = (b"queued", b"processing")


@dataclass(frozen=True)
class RealStack:
    """Backend URLs of the shared stack, as settings and as the environment of processes."""

    metadata_url: str
    blobs_url: str
    jobs_url: str
    mongo: Any
    database: str
    s3: Any
    bucket: str
    redis: Any
    workers: list[Any] = field(default_factory=list)
    """The ``assets-registry worker`` processes (``subprocess.Popen``)."""

    @property
    def urls(self) -> dict[str, str]:
        return {"metadata_url": self.metadata_url, "blobs_url": self.blobs_url, "jobs_url": self.jobs_url}

    @property
    def environment(self) -> dict[str, str]:
        return {f"ASSETS_{k.upper()}": v for k, v in self.urls.items()} | {
            "ASSETS_LEASE_SECONDS": STACK_LEASE_SECONDS,
            "ASSETS_SOURCES_ALLOW_PRIVATE_NETWORKS": "true",  # the tests' HTTP servers are on loopback
            "ASSETS_SOURCE_CHECK_SECONDS": "2",  # drift is repaired within seconds
        }

    @contextmanager
    def workers_paused(self) -> Iterator[None]:
        """The workers stopped (SIGSTOP) while no job runs, so that a test's own worker takes what is due."""
        self.wait_for_jobs()
        for process in self.workers:
            os.kill(process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for process in self.workers:
                os.kill(process.pid, signal.SIGCONT)

    def active_jobs(self) -> int:
        return sum(1 for key in self.redis.scan_iter("UPLOAD_STATUS:*") if self.redis.get(key) in _ACTIVE)

    def wait_for_jobs(self, seconds: float = 120) -> None:
        """Until no upload is queued or processing: the external workers have done them all."""
        deadline = time.monotonic() + seconds
        while self.active_jobs():
            if time.monotonic() > deadline:
                raise AssertionError(f"uploads still running after {seconds} s")
            time.sleep(0.05)

    def reset(self) -> None:
        self.wait_for_jobs()
        for collection in (
            "assets",
            "assets_buckets",
            "assets_sources",
            "assets_tokens",
            "assets_changes",
            "assets_revisions",
            "assets_revision_numbers",
        ):
            self.mongo[self.database][collection].delete_many({})
        keys = [o["Key"] for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
                for o in page.get("Contents", [])]  # fmt: skip
        for start in range(0, len(keys), 1000):
            self.s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]}
            )
        self.redis.flushdb()

    def stored_keys(self, prefix: str) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for o in listing.get("Contents", [])]


@pytest.fixture(scope="session")
def real_stack(
    mongodb_url: str, s3_server: S3Server, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealStack]:
    import pymongo
    import redis

    database = f"http_{uuid.uuid4().hex[:8]}"
    bucket = f"stack-{uuid.uuid4().hex[:12]}"
    stack = RealStack(
        metadata_url=f"{mongodb_url}/{database}",
        blobs_url=s3_server.blobs_url(bucket, create_bucket="true"),
        jobs_url=f"{redis_server.url}/0",
        mongo=pymongo.MongoClient(mongodb_url, serverSelectionTimeoutMS=5000),
        database=database,
        s3=s3_server.client(),
        bucket=bucket,
        redis=redis.Redis.from_url(f"{redis_server.url}/0"),
    )
    stack.s3.create_bucket(Bucket=bucket)
    data_dir = tmp_path_factory.mktemp("stack-workers")
    with ExitStack() as workers:
        for _ in range(2):
            stack.workers.append(
                workers.enter_context(
                    registry_process(["worker", "--data-dir", str(data_dir), "--threads", "2"], stack.environment)
                )
            )
        yield stack
    stack.mongo.close()
    stack.redis.close()
