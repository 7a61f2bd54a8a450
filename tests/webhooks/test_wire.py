"""The webhook requests as bytes on the wire, read by the standard library's MIME parser (not httpx's,
not falcon's), and a large file going through three services in bounded memory."""

from __future__ import annotations

import os
import threading
import tracemalloc
from collections.abc import Iterator
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from assets_registry.apps.container import build_container
from assets_registry.apps.settings import load_settings
from assets_registry.testing import bundle_asset, bundle_zip
from assets_registry.testing.webhooks import ReferenceWebhooks
from tests.stacks import run_jobs


class Recorder(BaseHTTPRequestHandler):
    """Keeps each request's headers and body; answers as ``answer`` says."""

    requests: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    answer: ClassVar[tuple[int, bytes, str]] = (200, b"", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
        status, payload, content_type = type(self).answer
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[type[Recorder], str]]:
    handler = type("Handler", (Recorder,), {"requests": [], "answer": (200, b"", "text/plain")})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def parts_of(headers: dict[str, str], body: bytes) -> list[Message]:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {headers['content-type']}\r\n\r\n".encode() + body)
    assert message.is_multipart()
    return list(message.iter_parts())


def ingest(tmp_path: Path, files: dict[str, bytes], *services: dict[str, Any]) -> str:
    settings = load_settings(data_dir=tmp_path / "var", services=list(services))
    registry = build_container(settings).services()
    try:
        job = registry.bundles.stage([bundle_zip(bundle_asset("wire"), files)], services=[s["name"] for s in services])
        run_jobs(registry)
        return registry.bundles.status(job.upload_id).status
    finally:
        registry.close()


def test_validation_sends_one_request_per_file_with_content_and_parameters(
    tmp_path: Path, recorder: tuple[type[Recorder], str]
) -> None:
    handler, url = recorder
    files = {"a/b.txt": b"first\r\n--not a boundary\r\n", "c.bin": bytes(range(256)) * 10}
    service = {"name": "v", "kind": "validation", "endpoint": f"{url}/check", "parameters": {"level": 2, "x": "é"}}
    assert ingest(tmp_path, files, service) == "success"
    assert len(handler.requests) == 2
    seen = {}
    for headers, body in handler.requests:
        assert headers["content-type"].startswith("multipart/form-data; boundary=")
        assert int(headers["content-length"]) == len(body), "a length, not a chunked body"
        by_name = {part.get_param("name", header="content-disposition"): part for part in parts_of(headers, body)}
        assert set(by_name) == {"content", "parameters"}
        assert bytes(by_name["parameters"].get_payload(decode=True)).decode() == '{"level": 2, "x": "\\u00e9"}'
        content = by_name["content"]
        seen[content.get_filename()] = content.get_payload(decode=True)
    assert seen == {"b.txt": files["a/b.txt"], "c.bin": files["c.bin"]}


def test_metadata_sends_one_request_with_a_part_per_file_named_by_its_path(
    tmp_path: Path, recorder: tuple[type[Recorder], str]
) -> None:
    handler, url = recorder
    handler.answer = (
        200,
        b'{"data": [{"filePath": "docs/x.md", "metadata": {"title": "X"}}], "errors": []}',
        "application/json",
    )
    files = {"docs/x.md": b"---\ntitle: X\n---\n", "y.md": b"plain"}
    assert ingest(tmp_path, files, {"name": "m", "kind": "metadata", "endpoint": f"{url}/extract"}) == "success"
    ((headers, body),) = handler.requests
    parts = {
        p.get_param("name", header="content-disposition"): p.get_payload(decode=True) for p in parts_of(headers, body)
    }
    assert parts == files, "no parameters field: a part's name is a file's path"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ((200, b"not json", "application/json"), "its answer is not the metadata answer"),
        (
            (200, b'{"data": [{"filePath": "other.md", "metadata": {}}]}', "application/json"),
            "other.md: the service answered for a file it was not sent",
        ),
        (
            (200, b'{"data": [{"filePath": "y.md", "metadata": {"n": 12345678901234567890123}}]}', "application/json"),
            "y.md: its metadata cannot be stored",
        ),
        ((302, b"", "text/plain"), "it answered HTTP 302"),
    ],
)
def test_a_metadata_answer_outside_the_contract_fails_the_job_saying_so(
    tmp_path: Path, recorder: tuple[type[Recorder], str], answer: tuple[int, bytes, str], said: str
) -> None:
    handler, url = recorder
    handler.answer = answer
    status = ingest(tmp_path, {"y.md": b"plain"}, {"name": "m", "kind": "metadata", "endpoint": f"{url}/extract"})
    assert status.startswith("failed: metadata_extraction_failed: m: "), status
    assert said in status


def test_a_large_file_goes_through_three_services_in_bounded_memory(tmp_path: Path) -> None:
    size = 48 << 20
    data = os.urandom(size // 2) + b"secret" + os.urandom(size // 2)
    reference = ReferenceWebhooks()
    with reference.serve() as url:
        services = [
            {
                "name": "scrub",
                "kind": "mutation",
                "endpoint": f"{url}/v1/mutate",
                "parameters": {"find": "secret", "replace": "public"},
            },
            {
                "name": "check",
                "kind": "validation",
                "endpoint": f"{url}/v1/validate",
                "parameters": {"forbidden": ["secret"]},
            },
            {"name": "describe", "kind": "metadata", "endpoint": f"{url}/v1/metadata"},
        ]
        settings = load_settings(data_dir=tmp_path / "var", services=services)
        registry = build_container(settings).services()
        try:
            job = registry.bundles.stage(
                [bundle_zip(bundle_asset("big"), {"model.bin": data})], services=["scrub", "check", "describe"]
            )
            del data
            tracemalloc.start()
            run_jobs(registry)
            _now, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert registry.bundles.status(job.upload_id).status == "success"
            (entry,) = registry.registry.get("big").document["files"]
            assert entry["asset_file_metadata"]["bytes"] == size + 6
        finally:
            registry.close()
    assert peak < 24 << 20, f"{peak / 2**20:.1f} MiB at the peak for a {size >> 20} MiB file sent three times"
