"""Malformed HTTP sent over a real socket to a real server: every fault is a 4xx problem, nothing is kept.

Chunked-encoding errors and bodies cut short only exist on the wire (the WSGI server's body
reader raises them), so these requests go through ``assets-registry serve`` as raw bytes, under
granian (the default) and gunicorn. Gunicorn's reader raises on a broken chunked encoding (400
``unreadable_body``); granian's ends the body where the encoding broke, so what arrived is
refused for what it is (malformed JSON, a form without its closing boundary): refused either way.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from assets_registry.apps.container import build_container
from assets_registry.apps.settings import load_settings
from assets_registry.testing import asset_document, bundle_zip, upload_form
from tests.served import served_registry

JSON_HEADERS = "Content-Type: application/json\r\n"
FORM_HEADERS = "Content-Type: multipart/form-data; boundary=b\r\n"
FILE_PART = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\nPK\x03\x04abc'


TOKENS: dict[str, str] = {}
"""The admin token of each server run with ``auth=tokens`` (by URL): every request sends it."""
GUNICORN: set[str] = set()
"""The URLs served by gunicorn (the others: granian)."""


@pytest.fixture(scope="module", params=["auth-off", "auth-tokens", "gunicorn"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("wire")
    settings: dict[str, str] = {"ASSETS_HTTP_SERVER": "gunicorn"} if request.param == "gunicorn" else {}
    token = None
    if request.param == "auth-tokens":
        settings["ASSETS_AUTH"] = "tokens"
        admin = build_container(load_settings(data_dir=data_dir)).services()
        token, _ = admin.tokens.create("wire-suite", "admin")
        admin.close()
    with served_registry(data_dir, settings=settings) as (url,):
        if token:
            TOKENS[url] = token
        if request.param == "gunicorn":
            GUNICORN.add(url)
        yield url, data_dir


def _authorized(url: str, head: str) -> str:
    """The request head with the server's token after its request line (if it needs one)."""
    token = TOKENS.get(url)
    if token is None:
        return head
    line, _, rest = head.partition("\r\n")
    return f"{line}\r\nAuthorization: Bearer {token}\r\n{rest}"


def send_raw(url: str, head: str, body: bytes = b"", cut: bool = False) -> tuple[int, dict[str, Any] | None]:
    """Send a request as bytes and read the whole answer: (status, problem or None). With ``cut``
    the body is cut short: our side is closed after it, and a server that then drops the
    connection without an answer (granian does) gives ``(0, None)``."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(_authorized(url, head).encode("latin-1") + b"Connection: close\r\n\r\n" + body)
        if cut:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    if not answer and cut and url not in GUNICORN:
        return 0, None
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, content = rest.partition(b"\r\n\r\n")
    status = int(status_line.split()[1])
    problem = json.loads(content) if b"application/problem+json" in headers.lower() else None
    return status, problem


def assert_refused(url: str, answer: tuple[int, dict[str, Any] | None], code: str, read: bool = False) -> None:
    """A body cut short: gunicorn answers 400 ``code``. Granian ends the body where it stopped,
    so it answers for the part that arrived (a search of ``{}``; a write refused as what it is:
    malformed, invalid, not found), or drops the connection, the client being gone; a write
    is never taken, and nothing is the server's fault."""
    if url in GUNICORN:
        assert_problem(answer, 400, code)
        return
    status, problem = answer
    if read:  # a search of what arrived, or GraphQL's own 400
        assert status < 500, answer
    else:
        assert status == 0 or (400 <= status < 500 and problem is not None), answer


def assert_problem(answer: tuple[int, dict[str, Any] | None], status: int, code: str) -> None:
    got, problem = answer
    assert got == status, problem
    assert problem is not None and problem["code"] == code, problem


def stored_ids(url: str) -> list[str]:
    auth = {"Authorization": f"Bearer {TOKENS[url]}"} if url in TOKENS else {}
    request = urllib.request.Request(
        f"{url}/query/search", data=b"{}", headers={"Content-Type": "application/json", **auth}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return sorted(asset["asset_id"] for asset in json.load(answer))


def staged(data_dir: Path) -> list[str]:
    staging = data_dir / "blobs" / "staging"
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


def test_a_chunk_size_that_is_not_hexadecimal_is_400_on_every_json_route(server: tuple[str, Path]) -> None:
    url, _ = server
    for route in ("POST /assets", "PUT /assets/a", "POST /query/search", "POST /graphql"):
        head = f"{route} HTTP/1.1\r\nHost: x\r\n{JSON_HEADERS}Transfer-Encoding: chunked\r\n"
        code = "unreadable_body" if url in GUNICORN else "malformed_json"  # granian: the body ends there
        assert_problem(send_raw(url, head, b"zz\r\n{}\r\n0\r\n\r\n"), 400, code)


@pytest.mark.parametrize(
    ("chunked_body", "what"),
    [(b"2\r\n{}", "a chunk without its terminator"), (b"20\r\n{}", "a chunk shorter than its size")],
)
def test_a_chunked_body_cut_short_is_refused_on_every_json_route(
    server: tuple[str, Path], chunked_body: bytes, what: str
) -> None:
    url, _ = server
    for route in ("POST /assets", "PUT /assets/a", "POST /query/search", "POST /graphql"):
        head = f"{route} HTTP/1.1\r\nHost: x\r\n{JSON_HEADERS}Transfer-Encoding: chunked\r\n"
        answer = send_raw(url, head, chunked_body, cut=True)
        assert_refused(url, answer, "unreadable_body", read=route in ("POST /query/search", "POST /graphql"))
    assert "a" not in stored_ids(url)


def test_a_body_shorter_than_its_length_is_refused_not_parsed(server: tuple[str, Path]) -> None:
    url, _ = server
    body = json.dumps(asset_document("short-1")).encode()
    head = f"POST /assets HTTP/1.1\r\nHost: x\r\n{JSON_HEADERS}Content-Length: {len(body) + 10}\r\n"
    status, problem = send_raw(url, head, body, cut=True)
    if status or url in GUNICORN:  # granian may drop the connection of a client that stopped sending
        assert_problem((status, problem), 400, "incomplete_body")
        assert problem is not None and f"{len(body)} of the {len(body) + 10} bytes" in problem["detail"]
    assert "short-1" not in stored_ids(url)


def test_a_non_ascii_digit_in_if_match_is_400(server: tuple[str, Path]) -> None:
    url, _ = server
    head = f'PUT /assets/a HTTP/1.1\r\nHost: x\r\n{JSON_HEADERS}If-Match: "\xb2"\r\nContent-Length: 2\r\n'
    assert_problem(send_raw(url, head, b"{}"), 400, "invalid_input")


@pytest.mark.parametrize(
    ("head", "body", "code"),
    [
        (f"Content-Length: 1000\r\n{FORM_HEADERS}", FILE_PART, "incomplete_body"),
        (f"Content-Length: {len(FILE_PART)}\r\n{FORM_HEADERS}", FILE_PART, "malformed_form"),
        (f"Transfer-Encoding: chunked\r\n{FORM_HEADERS}", b"40\r\n" + FILE_PART[:30], "unreadable_body"),
    ],
    ids=["shorter than its length", "no closing boundary", "chunks cut short"],
)
def test_an_upload_cut_short_is_refused_before_it_is_queued(
    server: tuple[str, Path], head: str, body: bytes, code: str
) -> None:
    url, data_dir = server
    answer = send_raw(url, f"POST /zip/upload HTTP/1.1\r\nHost: x\r\n{head}", body, cut=code != "malformed_form")
    if code == "malformed_form":
        assert_problem(answer, 400, code)
    else:
        assert_refused(url, answer, code)
    assert staged(data_dir) == []


def test_an_encoded_or_trailing_slash_never_names_another_asset(server: tuple[str, Path]) -> None:
    url, _ = server
    document = json.dumps(asset_document("decoy-0")).encode()
    head = f"POST /assets HTTP/1.1\r\nHost: x\r\n{JSON_HEADERS}Content-Length: {len(document)}\r\n"
    assert send_raw(url, head, document)[0] == 201
    for path in ("/assets/decoy-0%2F", "/assets/decoy-0%2f", "/assets/decoy-0/"):
        assert_problem(send_raw(url, f"DELETE {path} HTTP/1.1\r\nHost: x\r\n"), 400, "ambiguous_path")
    assert_problem(send_raw(url, "GET /query/by-id/decoy-0%2F HTTP/1.1\r\nHost: x\r\n"), 400, "ambiguous_path")
    assert send_raw(url, "GET /query/by-id/%2Fdecoy-0 HTTP/1.1\r\nHost: x\r\n")[0] == 404
    assert "decoy-0" in stored_ids(url)


def test_a_download_whose_first_file_changed_is_a_409_problem_not_an_html_page(server: tuple[str, Path]) -> None:
    url, _ = server
    body, headers = upload_form(bundle_zip("changed-1", {"a.bin": b"a" * 5000, "b.bin": b"b"}))
    auth = {"Authorization": f"Bearer {TOKENS[url]}"} if url in TOKENS else {}
    request = urllib.request.Request(f"{url}/zip/upload", data=body, headers={**headers, **auth})
    with urllib.request.urlopen(request, timeout=10) as answer:
        upload_id = json.load(answer)["upload_id"]
    for _ in range(200):
        status = urllib.request.Request(f"{url}/zip/status/{upload_id}", headers=auth)
        with urllib.request.urlopen(status, timeout=10) as answer:
            if json.load(answer)["status"] == "success":
                break
        time.sleep(0.05)
    with urllib.request.urlopen(
        urllib.request.Request(f"{url}/query/by-id/changed-1", headers=auth), timeout=10
    ) as answer:
        files = json.load(answer)["files"]
    files[0]["asset_file_metadata"]["size"] += 1  # the record no longer matches the stored bytes
    change = json.dumps({"files": files}).encode()
    head = f"PUT /assets/changed-1 HTTP/1.1\r\nHost: x\r\n{JSON_HEADERS}Content-Length: {len(change)}\r\n"
    assert send_raw(url, head, change)[0] == 200
    assert_problem(send_raw(url, "GET /zip/download/changed-1 HTTP/1.1\r\nHost: x\r\n"), 409, "incomplete_asset")
