"""Real servers for integration tests: found, started on free loopback ports, stopped.

Each module here offers a session-scoped way to run one server (``redis``, ``secantusdb``,
``seaweedfs``, ``ceph``). Where its binary comes from: an ``ASSETS_TEST_*`` variable that
``.ci/install-servers`` prints, else ``PATH``. When a server cannot be found or started:

- in CI (``CI=true``) the test fails: a missing server must never pass as a skipped test;
- on a developer's machine it is skipped, with the reason and the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from typing import NoReturn

import pytest

INSTALL_HINT = "install the servers with: sudo .ci/install-servers  (then export the variables it prints)"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Fail in CI, skip elsewhere, saying why and how to fix it."""
    message = f"{reason}; {INSTALL_HINT}"
    if in_ci():
        pytest.fail(f"CI needs this server: {message}", pytrace=False)
    pytest.skip(message)


def find_binary(variable: str, name: str) -> str:
    """The server binary named by ``$variable``, else found on PATH, else ``unavailable``."""
    configured = os.environ.get(variable)
    if configured:
        if os.access(configured, os.X_OK):
            return configured
        unavailable(f"{variable}={configured} is not an executable")
    found = shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed (set {variable} or put it on PATH)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(ready: Callable[[], bool], seconds: float, what: str, on_timeout: Callable[[], str] = str) -> None:
    """Poll ``ready`` until it is true; ``unavailable`` with ``on_timeout()``'s details otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:  # not ready yet, whatever the client says
            pass
        time.sleep(0.1)
    unavailable(f"{what} did not become ready within {seconds:.0f} s {on_timeout()}".rstrip())
