"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assets_registry.apps.container import Services, build_container
from assets_registry.apps.settings import load_settings
from tests.stacks import STACKS, ExternalStack, use_external_stack

# Real servers (Redis, SecantusDB, SeaweedFS, Ceph), each started once per session on demand.
pytest_plugins = [
    "tests.servers.redis",
    "tests.servers.secantusdb",
    "tests.servers.seaweedfs",
    "tests.servers.ceph",
    "tests.servers.stack",
]


@pytest.fixture
def embedded_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """The embedded default (SQLite + files + local jobs) under a fresh data directory."""
    for name in ("ASSETS_CONFIG", "ASSETS_METADATA_URL", "ASSETS_BLOBS_URL", "ASSETS_JOBS_URL"):
        monkeypatch.delenv(name, raising=False)
    services = build_container(load_settings(data_dir=tmp_path / "var", max_body_bytes=64 * 1024)).services()
    yield services
    services.close()


@pytest.fixture(params=STACKS)
def services(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """The registry's services on each stack: the embedded default, then MongoDB + S3 + Redis.

    On the real stack no job thread runs in this process: the stack's separate worker
    processes take the jobs (``tests.stacks.run_jobs`` waits for them).
    """
    for name in ("ASSETS_CONFIG", "ASSETS_METADATA_URL", "ASSETS_BLOBS_URL", "ASSETS_JOBS_URL"):
        monkeypatch.delenv(name, raising=False)
    backends: dict[str, Any] = {}
    stack = None
    if request.param != "embedded":
        stack = request.getfixturevalue("real_stack")
        stack.reset()
        backends = {**stack.urls, "job_threads": 0}
    settings = load_settings(data_dir=tmp_path / "var", max_body_bytes=64 * 1024, **backends)
    built = build_container(settings).services()
    if stack is not None:
        use_external_stack(built, ExternalStack(stack.wait_for_jobs, stack.stored_keys))
    yield built
    built.close()
