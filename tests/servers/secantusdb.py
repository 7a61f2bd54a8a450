"""A real SecantusDB server (MongoDB's wire protocol on WiredTiger) for integration tests.

``mongodb_url`` starts one ``secantusd-py`` per test session on a free loopback port, with its
data in a temporary folder, and stops it at the end (SIGTERM, then SIGKILL). Tests get their
own database through ``mongodb_store`` or ``fresh_mongo_store``, dropped afterwards, so they
never see each other's assets. pymongo is imported only when a fixture runs: this module is
loaded by every test session, with or without the ``mongodb`` extra.
"""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.servers import find_binary, free_port, unavailable, wait_until

if TYPE_CHECKING:
    from assets_registry.adapters.mongodb.store import MongoMetadataStore

BINARY_VARIABLE = "ASSETS_TEST_SECANTUSD"
START_SECONDS = 30.0
STOP_SECONDS = 10.0


def _tail(log: Path, lines: int = 20) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return "output: " + " | ".join(text.strip().splitlines()[-lines:]) if text.strip() else "(no output)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def mongodb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (``mongodb://127.0.0.1:PORT``) of a SecantusDB server running for this session."""
    binary = find_binary(BINARY_VARIABLE, "secantusd-py")
    try:
        import pymongo
    except ImportError:
        unavailable("pymongo is not installed (pip install -e '.[test]')")
    folder = tmp_path_factory.mktemp("secantusdb")
    config = folder / "secantusd.toml"  # an empty file: no developer's ~/.secantus config leaks in
    config.write_text("")
    log = folder / "server.log"
    port = free_port()
    command = [binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--storage-path", str(folder / "data"), "--log-level", "WARNING"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"mongodb://127.0.0.1:{port}"
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=500, connectTimeoutMS=500
    )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                return True  # stop waiting: it exited, reported below
            client.admin.command("ping")
            return True

        wait_until(ready, START_SECONDS, f"SecantusDB ({binary}) on port {port}", lambda: _tail(log))
        if process.poll() is not None:
            unavailable(f"SecantusDB ({binary}) exited with status {process.returncode}; {_tail(log)}")
        yield url
    finally:
        client.close()
        _stop(process)


@contextmanager
def fresh_mongo_store(base_url: str, options: str = "") -> Iterator[MongoMetadataStore]:
    """A store on a database of its own (dropped afterwards) of the server at ``base_url``."""
    from assets_registry.adapters.mongodb.store import MongoMetadataStore

    database = f"test_{uuid.uuid4().hex[:16]}"
    store = MongoMetadataStore(f"{base_url}/{database}{'?' + options if options else ''}")
    try:
        yield store
    finally:
        try:
            store.client.drop_database(database)
        finally:
            store.close()


@pytest.fixture
def mongodb_store(mongodb_url: str) -> Iterator[MongoMetadataStore]:
    """A fresh, empty MongoDB metadata store on its own database."""
    with fresh_mongo_store(mongodb_url) as store:
        yield store
