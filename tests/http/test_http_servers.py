"""``serve`` under granian (the default), as an operator runs it: two addresses, several processes,
restarts and stops that let requests in flight finish, the proxy's scheme trusted from loopback.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from assets_registry.testing import asset_document, bundle_zip, upload_form
from tests.served import free_port, registry_output

pytestmark = pytest.mark.slow


def _get(url: str, headers: dict[str, str] | None = None) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as answer:
        return json.load(answer)


def _up(url: str) -> bool:
    try:
        return bool(_get(f"{url}/healthz"))
    except OSError:
        return False


def _wait(condition: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _workers(pid: int) -> set[int]:
    """The processes that answer requests: the children of each address's granian server."""
    return {worker for server in _children(pid) for worker in _children(server)}


def _start_slow_create(url: str, asset_id: str) -> tuple[socket.socket, bytes]:
    """A ``POST /assets`` whose body is half sent: a request in flight."""
    body = json.dumps(asset_document(asset_id)).encode()
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = f"POST /assets HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + body[:20])
    return sock, body[20:]


def _finish(sock: socket.socket, rest: bytes) -> int:
    sock.sendall(rest)
    answer = b""
    while data := sock.recv(65536):
        answer += data
    sock.close()
    return int(answer.split(b" ", 2)[1])


def test_two_addresses_restart_and_stop_gracefully(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    write, query = (f"http://127.0.0.1:{port}" for port in ports)
    args = ["serve", "--data-dir", str(tmp_path), "--workers", "2"]
    with registry_output([*args, "--bind", f"127.0.0.1:{ports[0]}", "--bind", f"127.0.0.1:{ports[1]}"]) as (
        process,
        log,
    ):
        _wait(lambda: _up(write) and _up(query), "serve answered on both addresses")
        workers = _workers(process.pid)
        assert len(_children(process.pid)) == 2 and len(workers) == 2 * 2, "a server per address, 2 processes each"

        # A stored file's URL says https behind a proxy on this host, http otherwise.
        body, headers = upload_form(bundle_zip("served-1", {"a.bin": b"a" * 1000}))
        request = urllib.request.Request(f"{write}/zip/upload", data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as answer:
            upload_id = json.load(answer)["upload_id"]
        _wait(lambda: _get(f"{query}/zip/status/{upload_id}")["status"] == "success", "the upload job ran")
        plain = _get(f"{query}/query/by-id/served-1")["files"][0]["asset_file_url"]
        proxied = _get(f"{query}/query/by-id/served-1", {"X-Forwarded-Proto": "https"})["files"][0]["asset_file_url"]
        assert plain.startswith(f"{query}/assets/served-1/files/")
        assert proxied == "https" + plain.removeprefix("http")

        # SIGHUP: fresh processes, and a request in flight still gets its answer.
        sock, rest = _start_slow_create(write, "in-flight-1")
        process.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert _finish(sock, rest) == 201
        _wait(lambda: not (_workers(process.pid) & workers) and _up(write) and _up(query), "restarted")
        assert len(_workers(process.pid)) == 4
        assert _get(f"{query}/query/by-id/in-flight-1")["asset_id"] == "in-flight-1"

        # SIGTERM: the request in flight finishes, then every process ends, with status 0.
        sock, rest = _start_slow_create(write, "in-flight-2")
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        time.sleep(1)
        assert _finish(sock, rest) == 201
        assert process.wait(timeout=40) == 0
        log.seek(0)
        assert b"Traceback" not in log.read()


def test_an_address_in_use_stops_serve_at_once_with_its_address(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    args = ["serve", "--data-dir", str(tmp_path), "--bind", f"127.0.0.1:{free_port()}", "--bind", f"127.0.0.1:{busy}"]
    with registry_output(args) as (process, log):
        assert process.wait(timeout=30) == 2  # a configuration the operator must change
        log.seek(0)
        output = log.read().decode()
    taken.close()
    assert output.startswith("assets-registry: serve cannot listen on 127.0.0.1:") and f":{busy}" in output, output
    assert "Traceback" not in output and "granian" not in output, output
