"""Separate ``assets-registry worker`` processes take upload jobs, and survive each other's death.

The scenario runs on every job-tracker setup the session can reach: the embedded default
(SQLite job tracker shared by processes on one host) and, with real servers, MongoDB + S3 +
Redis. A worker is killed with SIGKILL in the middle of a job; another must take the job over
once its lease runs out and bring it to ``success``, with the asset's files whole.
"""

from __future__ import annotations

import io
import random
import signal
import time
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest

from assets_registry.testing import bundle_zip
from tests.served import registry_process, served_registry
from tests.servers.redis import RedisDatabase
from tests.servers.seaweedfs import S3Server

MiB = 1 << 20
LEASE_SECONDS = 2.0


def bundle(asset_id: str, sizes: dict[str, int]) -> tuple[bytes, dict[str, bytes]]:
    rng = random.Random(asset_id)
    files = {name: rng.randbytes(size) for name, size in sizes.items()}
    return bundle_zip(asset_id, files, compression=zipfile.ZIP_STORED), files


def upload(url: str, data: bytes) -> str:
    response = httpx.post(f"{url}/zip/upload", files={"file": ("b.zip", data, "application/zip")}, timeout=120)
    assert response.status_code == 202, response.text
    return str(response.json()["upload_id"])


def wait_for(url: str, upload_id: str, done: set[str] | None = None, seconds: float = 120) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = httpx.get(f"{url}/zip/status/{upload_id}", timeout=30).json()
        if status["status"] in (done or set()) or str(status["status"]).startswith(("success", "failed")):
            return dict(status)
        time.sleep(0.05)
    raise AssertionError(f"upload {upload_id} still not done after {seconds} s")


def check_download(url: str, asset_id: str, files: dict[str, bytes]) -> None:
    response = httpx.get(f"{url}/zip/download/{asset_id}", timeout=120)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert {name: archive.read(name) for name in files} == files


def run_kill_scenario(data_dir: Path, settings: dict[str, str]) -> None:
    """Two workers; the one holding a big job is SIGKILLed mid-stream; the other finishes it."""
    # Without early unpacking the worker copies every member out of the staged archive, so the
    # job lasts long enough to be killed in the middle of it.
    settings = settings | {
        "ASSETS_JOB_THREADS": "0",
        "ASSETS_LEASE_SECONDS": str(LEASE_SECONDS),
        "ASSETS_EARLY_UNPACK": "false",
    }
    common = ["--data-dir", str(data_dir)]
    with served_registry(data_dir, settings=settings) as (url,), \
         registry_process(["worker", *common, "--threads", "1"], settings) as first:  # fmt: skip
        small, small_files = bundle("warm-up", {"a.bin": 1000})
        assert wait_for(url, upload(url, small))["status"] == "success"
        check_download(url, "warm-up", small_files)

        # a fsync per file makes the job last seconds on any disk
        shards = {f"shards/{n:04}.bin": 4096 for n in range(1500)}
        data, files = bundle("big-one", {"weights.bin": 64 * MiB, "config.json": 2000, **shards})
        upload_id = upload(url, data)
        deadline = time.monotonic() + 60
        while True:
            status = httpx.get(f"{url}/zip/status/{upload_id}", timeout=30).json()
            if status["status"] == "processing":
                break
            assert status["status"] == "queued" and time.monotonic() < deadline, f"the job never started: {status}"
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
        assert httpx.get(f"{url}/zip/status/{upload_id}", timeout=30).json()["status"] == "processing"

        with registry_process(["worker", *common, "--threads", "1"], settings):
            final = wait_for(url, upload_id, seconds=LEASE_SECONDS + 60)
            took = time.monotonic() - killed_at
        assert final["status"] == "success", final
        assert final["asset_id"] == "big-one"
        check_download(url, "big-one", files)
        assert took < LEASE_SECONDS + 45, f"the job took {took:.1f} s to be taken over and finished"


@pytest.mark.slow  # processes started, one killed mid-job, its lease left to run out
def test_a_killed_worker_s_job_is_taken_over_on_the_embedded_default(tmp_path: Path) -> None:
    run_kill_scenario(tmp_path / "var", {})


@pytest.mark.real_servers
def test_a_killed_worker_s_job_is_taken_over_on_mongodb_s3_redis(
    tmp_path: Path, mongodb_url: str, s3_server: S3Server, redis_db: RedisDatabase
) -> None:
    """Its own database, bucket and Redis database: no other worker may take these jobs."""
    run_kill_scenario(
        tmp_path / "var",
        {
            "ASSETS_METADATA_URL": f"{mongodb_url}/kill_{uuid.uuid4().hex[:8]}",
            "ASSETS_BLOBS_URL": s3_server.blobs_url(create_bucket="true"),
            "ASSETS_JOBS_URL": redis_db.url,
        },
    )


@pytest.mark.real_servers
def test_two_api_servers_and_two_workers_share_one_stack(
    tmp_path: Path, mongodb_url: str, s3_server: S3Server, redis_db: RedisDatabase
) -> None:
    """Upload through one API server, follow and download through another; workers elsewhere."""
    settings = {
        "ASSETS_METADATA_URL": f"{mongodb_url}/shared_{uuid.uuid4().hex[:8]}",
        "ASSETS_BLOBS_URL": s3_server.blobs_url(create_bucket="true"),
        "ASSETS_JOBS_URL": redis_db.url,
        "ASSETS_JOB_THREADS": "0",
    }
    worker = ["worker", "--data-dir", str(tmp_path / "w"), "--threads", "1"]
    with served_registry(tmp_path / "a", settings=settings) as (first,), \
         served_registry(tmp_path / "b", settings=settings) as (second,), \
         registry_process(worker, settings), registry_process(worker, settings):  # fmt: skip
        uploads = {}
        for n in range(4):
            data, files = bundle(f"shared-{n}", {"weights.bin": 2 * MiB, "notes.txt": 100})
            uploads[upload(first if n % 2 else second, data)] = (f"shared-{n}", files)
        for upload_id, (asset_id, files) in uploads.items():
            status = wait_for(second, upload_id)
            assert (status["status"], status["asset_id"]) == ("success", asset_id)
            check_download(first, asset_id, files)
            check_download(second, asset_id, files)
