"""A real redis-server for integration tests, on a free loopback port, without persistence.

- ``redis_server`` (session): one server for the whole run; ``redis_url`` (session) is its
  base URL ``redis://127.0.0.1:PORT``.
- ``redis_db`` (function): a database of that server for one test alone, emptied before and
  after it, so a test sees the tracker's real key names (no prefix) and nobody else's keys.
- ``start_redis_server(folder)`` / ``redis_server_factory``: a server of a test's own, for
  tests that kill, pause or restart it (outages) or need other flags (TLS, a password).

The binary is ``$ASSETS_TEST_REDIS_SERVER``, else ``redis-server`` on PATH. A server that
cannot be found or started fails the test in CI and skips it elsewhere, with its log's tail.
"""

from __future__ import annotations

import itertools
import signal
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers import find_binary, free_port, unavailable, wait_until

BINARY_VARIABLE = "ASSETS_TEST_REDIS_SERVER"
DATABASES = 64
"""Databases the session server offers; ``redis_db`` cycles through them (1 .. DATABASES-1)."""


@dataclass
class RedisServer:
    """One redis-server process; ``stop()`` ends it politely, ``kill()`` as a crash would."""

    binary: str
    folder: Path
    extra_args: tuple[str, ...] = ()
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / f"redis-{self.port}.log"

    def start(self, port: int | None = None) -> RedisServer:
        """Start (again, on the same port if given) and wait until it answers PING."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):  # another process may take the free port before redis binds it
            self.port = port or free_port()
            command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            command += ["--daemonize", "no", "--dir", str(self.folder), "--databases", str(DATABASES)]
            with self.log.open("ab") as log:
                self.process = subprocess.Popen([*command, *self.extra_args], stdout=log, stderr=subprocess.STDOUT)
            wait_until(self._ready, 10, f"redis-server on port {self.port}", self.log_tail)
            if self.process.poll() is None:
                return self
            if port is not None:
                break
        unavailable(f"redis-server did not start {self.log_tail()}")

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            return True  # it exited: start() looks at why
        return ping(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the server vanishes without closing anything, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def pause(self) -> None:
        """SIGSTOP: the server keeps its connections but answers nothing (a hung host)."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "(log: " + " | ".join(tail) + ")" if tail else ""


def ping(port: int) -> bool:
    """True if a Redis server answers on ``port`` (raw RESP, no client library; NOAUTH counts)."""
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        answer = sock.recv(64)
    return answer.startswith(b"+PONG") or answer.startswith(b"-NOAUTH")


def start_redis_server(folder: Path, *extra_args: str) -> RedisServer:
    """A redis-server of the caller's own (stop it when done): to kill, pause, restart."""
    return RedisServer(find_binary(BINARY_VARIABLE, "redis-server"), folder, tuple(extra_args)).start()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:PORT`` of the session server (database 0 is shared: prefer ``redis_db``)."""
    return redis_server.url


@pytest.fixture
def redis_server_factory(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Call it with extra redis-server flags; every server it started is stopped after the test."""
    started: list[RedisServer] = []

    def start(*extra_args: str) -> RedisServer:
        server = start_redis_server(tmp_path / f"redis-{len(started)}", *extra_args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.resume()
        server.stop()


@dataclass(frozen=True)
class RedisDatabase:
    """One database of the session server, for one test: ``url`` selects it."""

    server: RedisServer
    number: int

    @property
    def url(self) -> str:
        return f"{self.server.url}/{self.number}"


_next_db = itertools.cycle(range(1, DATABASES))


@pytest.fixture
def redis_db(redis_server: RedisServer) -> Iterator[RedisDatabase]:
    """A database of the session server for this test alone, empty before and after it."""
    database = RedisDatabase(redis_server, next(_next_db))
    _flush(database)
    yield database
    _flush(database)


def _flush(database: RedisDatabase) -> None:
    with socket.create_connection(("127.0.0.1", database.server.port), timeout=5) as sock:
        sock.sendall(f"SELECT {database.number}\r\nFLUSHDB\r\n".encode())
        received = b""
        while received.count(b"\r\n") < 2:
            chunk = sock.recv(64)
            if not chunk:
                break
            received += chunk
    if received != b"+OK\r\n+OK\r\n":
        raise RuntimeError(f"could not empty Redis database {database.number}: {received!r}")
