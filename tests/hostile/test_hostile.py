"""Thousands of generated hostile requests against a real server: no 5xx, a code on every 4xx, nothing changed.

The requests (``tests/hostile/requests.py``) cover every route: malformed bodies, headers,
chunked encodings, bodies shorter than their length, paths, methods, filters, GraphQL,
multipart forms and damaged archives. The server is ``assets-registry serve`` on the
embedded default, under granian (the default) and gunicorn. Requests gunicorn itself cannot
parse as HTTP are answered by gunicorn before the app runs (an HTML 400): those are counted
apart, and still never a 5xx. A body cut short (``short``, ``chunked``) is sent with our side
closed after it: gunicorn answers its code; granian ends the body where it stopped (the app
then refuses what arrived for what it is) or drops the connection of a client that is gone.
``ASSETS_TEST_HOSTILE_COUNT`` sets how many are sent (default 6,000, about 15 s here). GraphQL
errors keep GraphQL's own form (``errors[].extensions.code``).
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from assets_registry.testing import asset_document
from tests.hostile.requests import PROTECTED, Raw, hostile_requests
from tests.served import served_registry

COUNT = int(os.environ.get("ASSETS_TEST_HOSTILE_COUNT", "6000"))
SEED = int(os.environ.get("ASSETS_TEST_HOSTILE_SEED", "20261203"))
EXPECTED = {
    "chunked": ("unreadable_body",),
    "short": ("incomplete_body", "body_too_large"),
}
"""The codes some kinds must get: a body cut short is never parsed as if it were whole."""


CUT = ("short", "chunked")
"""The kinds whose body may be cut short: sent with our side closed after them."""


def cut_short(request: Raw) -> bool:
    """The body may be cut short: a kind that cuts it, or a Content-Length (as HTTP reads it,
    spaces around) larger than the body sent."""
    if request.kind in CUT:
        return True
    head, _, body = request.data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip()) > len(body)
    return False


GRANIAN: set[str] = set()


@pytest.fixture(scope="module", params=["granian", "gunicorn"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = {"ASSETS_MAX_BODY_BYTES": "65536", "ASSETS_HTTP_SERVER": request.param}
    with served_registry(tmp_path_factory.mktemp("hostile"), settings=settings) as (url,):
        if request.param == "granian":
            GRANIAN.add(url)
        for asset_id in PROTECTED:
            create = urllib.request.Request(
                f"{url}/assets", json.dumps(asset_document(asset_id)).encode(), {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(create, timeout=10) as answer:
                assert answer.status == 201
        yield url


def send(url: str, request: Raw) -> tuple[int, dict[str, str], bytes]:
    """The answer's status, headers (lower-case names) and body; status 0 if the server closed without one."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        try:
            sock.sendall(request.data)
            if cut_short(request):
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server answered and closed before taking it all
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
    if not answer:
        return 0, {}, b""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def snapshot(url: str) -> dict[str, Any]:
    """The protected assets as stored: document and ETag (its revision)."""
    seen = {}
    for asset_id in PROTECTED:
        with urllib.request.urlopen(f"{url}/query/by-id/{asset_id}", timeout=10) as answer:
            seen[asset_id] = (answer.headers["ETag"], json.load(answer))
    return seen


def job_statuses(url: str, upload_ids: list[str]) -> dict[str, str]:
    deadline = time.monotonic() + 120
    statuses: dict[str, str] = {}
    while time.monotonic() < deadline:
        for upload_id in upload_ids:
            if statuses.get(upload_id, "queued") in ("queued", "processing"):
                with urllib.request.urlopen(f"{url}/zip/status/{upload_id}", timeout=10) as answer:
                    statuses[upload_id] = json.load(answer)["status"]
        if all(s not in ("queued", "processing") for s in statuses.values()):
            break
        time.sleep(0.2)
    return statuses


@pytest.mark.slow  # 6,000 requests to a real server, ~10 s
def test_no_hostile_request_gets_a_5xx_or_an_answer_without_a_code(server: str) -> None:
    before = snapshot(server)
    faults: list[str] = []
    by_kind: Counter[str] = Counter()
    by_server: Counter[str] = Counter()
    upload_ids: list[str] = []
    for n, request in enumerate(hostile_requests(SEED, COUNT)):
        status, headers, body = send(server, request)
        by_kind[f"{request.kind} {status}"] += 1
        where = f"#{n} ({request.kind}) {request.method} {request.path[:80]!r}: {status}"
        if status == 0 and server in GRANIAN and cut_short(request):
            pass  # granian drops the connection of a client that stopped sending: nothing to answer
        elif status == 0 or status >= 500:
            faults.append(f"{where} {body[:200]!r}")
        elif status >= 400:
            if headers.get("content-type") == "application/problem+json":
                if request.method != "HEAD" and not json.loads(body).get("code"):
                    faults.append(f"{where} a problem without a code: {body[:200]!r}")
            elif request.path.startswith("/graphql") and headers.get("content-type") == "application/json":
                errors = json.loads(body).get("errors") or [{}]  # GraphQL's own form: errors[].extensions.code
                if not all(e.get("extensions", {}).get("code") for e in errors):
                    faults.append(f"{where} a GraphQL error without a code: {body[:200]!r}")
            elif b"<html>" in body.lower() or "text/html" in headers.get("content-type", ""):
                by_server[f"{status} {body[:60]!r}"] += 1  # gunicorn's own answer to unparsable HTTP
            elif server in GRANIAN and not body and "content-type" not in headers:
                by_server[f"{status} (empty)"] += 1  # granian's own answer to unparsable HTTP
            else:
                faults.append(f"{where} not a problem: {headers.get('content-type')} {body[:200]!r}")
        if server in GRANIAN and request.kind == "chunked":
            pass  # the body ended where its chunks broke: answered for what arrived (above: never a 5xx)
        elif request.kind in EXPECTED and 400 <= status < 500 and b"<html>" not in body.lower():
            code = json.loads(body).get("code") if request.method != "HEAD" and body.startswith(b"{") else None
            if code not in EXPECTED[request.kind]:
                faults.append(f"{where} answered {code!r}, not one of {EXPECTED[request.kind]}")
        if status == 202 and request.kind in ("zip", "form"):
            upload_ids.append(json.loads(body)["upload_id"])
    ended = job_statuses(server, upload_ids)
    for upload_id, ending in ended.items():
        if not ending.startswith(("failed: ", "success")) or "the server failed" in ending:
            faults.append(f"upload (job) {upload_id}: {ending}")
    print(f"\n{COUNT} hostile requests (seed {SEED}):", dict(sorted(by_kind.items())))
    print("answered by the HTTP server itself:", dict(by_server))
    print("upload jobs:", Counter(s.split(" (")[0][:50] for s in ended.values()))
    kinds = Counter(fault.split(" ", 2)[1] for fault in faults)
    assert faults == [], f"{len(faults)} of {COUNT} answered badly {dict(kinds)}:\n" + "\n".join(faults[:40])
    assert snapshot(server) == before, "a hostile request changed a stored asset"
