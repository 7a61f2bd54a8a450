"""Fixtures shared by every test folder, and the one scrub of the shell's ``ASSETS_*`` settings."""

from __future__ import annotations

import os
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


REAL_SERVER_FIXTURES = frozenset(
    {"ceph_server", "redis_server", "redis_url", "redis_db", "s3_server", "s3_client", "mongodb_url", "real_stack"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for a real server is marked ``real_servers``, whether or not its module says so."""
    for item in items:
        if REAL_SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_servers)


@pytest.fixture(scope="session", autouse=True)
def _no_operator_settings() -> Iterator[None]:
    """No test, and no server a test starts, sees the ``ASSETS_*`` settings of the shell pytest runs in.

    Done once for the session, before any fixture builds settings or a server process; the
    ``ASSETS_TEST_*`` variables, which say where the real servers' binaries are, stay. A test
    that sets a variable does it with ``monkeypatch.setenv``, undone after it.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("ASSETS_") and not name.startswith("ASSETS_TEST_"):
                patch.delenv(name)
        yield


@pytest.fixture
def embedded_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """The embedded default (SQLite + files + local jobs) under a fresh data directory."""
    services = build_container(load_settings(data_dir=tmp_path / "var", max_body_bytes=64 * 1024)).services()
    yield services
    services.close()


@pytest.fixture(params=STACKS)
def services(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    """The registry's services on each stack: the embedded default, then MongoDB + S3 + Redis.

    On the real stack no job thread runs in this process: the stack's separate worker
    processes take the jobs (``tests.stacks.run_jobs`` waits for them).
    """
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
