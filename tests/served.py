"""A real ``assets-registry serve`` process for tests, started as the README starts it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

SERVER_PYTHON = os.environ.get("ASSETS_TEST_SERVER_PYTHON", sys.executable)
"""The Python whose ``assets_registry`` the served tests run: another installation's, to try
this suite on an older version (``ASSETS_TEST_SERVER_PYTHON=/old/venv/bin/python``)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def registry_env(settings: dict[str, str] | None = None) -> dict[str, str]:
    """This environment (the shell's ``ASSETS_*`` settings are scrubbed by ``conftest``), plus ``settings``."""
    return dict(os.environ) | (settings or {})


@contextmanager
def _process(args: list[str], settings: dict[str, str] | None) -> Iterator[tuple[subprocess.Popen[bytes], IO[bytes]]]:
    """``python -m assets_registry ARGS``, its output in a file (a pipe nobody reads fills up and
    blocks the server at its next log line); the output is printed if the test fails meanwhile."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [SERVER_PYTHON, "-m", "assets_registry", *args],
            env=registry_env(settings),
            stdout=log,
            stderr=log,
            cwd=tempfile.gettempdir(),  # the installed package, not the checkout's folder on sys.path
        )
        try:
            yield process, log
        except BaseException:
            log.seek(0)
            sys.stderr.write(f"--- output of assets-registry {' '.join(args)}:\n")
            sys.stderr.write(log.read()[-20000:].decode(errors="replace"))
            raise
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextmanager
def registry_output(
    args: list[str], settings: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], IO[bytes]]]:
    """``registry_process``, and the file its stdout and stderr go to (to read its logs)."""
    with _process(args, settings) as (process, log):
        yield process, log


@contextmanager
def registry_process(args: list[str], settings: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python -m assets_registry ARGS`` (a worker, say); stop it at the end if still running."""
    with _process(args, settings) as (process, _log):
        yield process


@contextmanager
def served_registry(
    data_dir: Path, ports: int = 1, workers: int = 1, *extra: str, settings: dict[str, str] | None = None
) -> Iterator[list[str]]:
    """Run ``python -m assets_registry serve`` on ``ports`` free ports; yield their base URLs."""
    numbers = [free_port() for _ in range(ports)]
    binds = [arg for n in numbers for arg in ("--bind", f"127.0.0.1:{n}")]
    args = ["serve", "--data-dir", str(data_dir), *binds, "--workers", str(workers), *extra]
    with _process(args, settings) as (process, log):
        urls = [f"http://127.0.0.1:{n}" for n in numbers]
        deadline = time.monotonic() + 30
        while not all(_answers(url) for url in urls):
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"assets-registry serve exited with {process.returncode}:\n{log.read().decode()}")
            if time.monotonic() > deadline:
                pytest.fail("assets-registry serve did not answer within 30 s")
            time.sleep(0.1)
        yield urls


def cli_token(data_dir: Path, name: str, scope: str, settings: dict[str, str] | None = None) -> str:
    """A token made as an operator makes one (``assets-registry tokens create``); its secret."""
    made = subprocess.run(
        [
            SERVER_PYTHON,
            "-m",
            "assets_registry",
            "tokens",
            "create",
            name,
            "--scope",
            scope,
            "--data-dir",
            str(data_dir),
        ],
        env=registry_env(settings),
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]
