"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assets_registry.apps.container import Services, build_container
from assets_registry.apps.settings import load_settings

# Real servers (Redis, SecantusDB, SeaweedFS, Ceph), each started once per session on demand.
pytest_plugins = ["tests.servers.redis", "tests.servers.secantusdb", "tests.servers.seaweedfs", "tests.servers.ceph"]


@pytest.fixture
def embedded_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """The embedded default (SQLite + files + local jobs) under a fresh data directory."""
    for name in ("ASSETS_CONFIG", "ASSETS_METADATA_URL", "ASSETS_BLOBS_URL", "ASSETS_JOBS_URL"):
        monkeypatch.delenv(name, raising=False)
    services = build_container(load_settings(data_dir=tmp_path / "var", max_body_bytes=64 * 1024)).services()
    yield services
    services.close()
