"""A real ``assets-registry serve`` process for tests, started as the README starts it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


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
    """This environment without the caller's ``ASSETS_*`` settings, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETS_") or k.startswith("ASSETS_TEST_")}
    return env | (settings or {})


@contextmanager
def registry_process(args: list[str], settings: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python -m assets_registry ARGS`` (a worker, say); kill it at the end if still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "assets_registry", *args],
        env=registry_env(settings), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def served_registry(
    data_dir: Path, ports: int = 1, workers: int = 1, *extra: str, settings: dict[str, str] | None = None
) -> Iterator[list[str]]:
    """Run ``python -m assets_registry serve`` on ``ports`` free ports; yield their base URLs."""
    numbers = [free_port() for _ in range(ports)]
    binds = [arg for n in numbers for arg in ("--bind", f"127.0.0.1:{n}")]
    env = registry_env(settings)
    process = subprocess.Popen(
        [sys.executable, "-m", "assets_registry", "serve", "--data-dir", str(data_dir), *binds,
         "--workers", str(workers), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    urls = [f"http://127.0.0.1:{n}" for n in numbers]
    try:
        deadline = time.monotonic() + 30
        while not all(_answers(url) for url in urls):
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"assets-registry serve exited with {process.returncode}:\n{output}")
            if time.monotonic() > deadline:
                pytest.fail("assets-registry serve did not answer within 30 s")
            time.sleep(0.1)
        yield urls
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
