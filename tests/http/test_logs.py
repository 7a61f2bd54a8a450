"""``serve --log-format json``: one JSON object per line on stderr, an access line per request with
its request id and actor, and one line when an upload job ends with its reason and duration."""

from __future__ import annotations

import json
import queue
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from falcon import testing

from assets_registry.apps import logs
from assets_registry.apps.container import Services
from assets_registry.apps.http import create_app
from assets_registry.testing import bundle_asset, write_bundle
from tests.served import registry_output
from tests.servers import free_port


def test_json_logs_carry_request_ids_and_job_endings(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["serve", "--data-dir", str(tmp_path / "var"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
            "--log-format", "json"]  # fmt: skip
    bundle = tmp_path / "b.zip"
    write_bundle(bundle, bundle_asset("logged"), {"a.txt": b"a"})
    with registry_output(args) as (server, output):
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/healthz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        assert httpx.get(f"{url}/query/by-id/nope", headers={"X-Request-ID": "trace-42"}).status_code == 404
        with bundle.open("rb") as source:
            upload_id = httpx.post(f"{url}/zip/upload", files={"file": ("b.zip", source)}).json()["upload_id"]
        while httpx.get(f"{url}/zip/status/{upload_id}").json()["status"] in ("queued", "processing"):
            assert time.monotonic() < deadline + 30
            time.sleep(0.1)
        settle = time.monotonic() + 15  # the job's line is written just after its status says it ended
        while True:
            output.seek(0)
            text = output.read().decode()
            if "assets_registry.jobs" in text or time.monotonic() > settle:
                break
            time.sleep(0.1)
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "assets_registry.access"]
    traced = [line for line in access if line.get("request_id") == "trace-42"]
    assert traced and traced[0]["route"] == "/query/by-id/{asset_id}" and traced[0]["status"] == 404, access
    assert traced[0]["actor"] == "anonymous" and traced[0]["seconds"] >= 0
    ended = [line for line in lines if line["logger"] == "assets_registry.jobs"]
    assert [(e["upload_id"], e["reason"], e["asset_id"]) for e in ended] == [(upload_id, "uploaded", "logged")]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_access_lines_queue_up_to_a_bound_then_are_dropped_and_counted(
    embedded_services: Services, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stalled stderr never grows a request's memory: past the bound, lines are counted, and
    the count is written with the next batch."""
    lines: queue.SimpleQueue[Any] = queue.SimpleQueue()  # no writer yet: as if stderr were stalled
    monkeypatch.setattr(logs._Background, "lines", lines)
    monkeypatch.setattr(logs._Background, "dropped", 0)
    monkeypatch.setattr(logs, "_MAX_QUEUED", 2)
    client = testing.TestClient(create_app(embedded_services))
    for n in range(5):
        assert client.simulate_get(f"/query/by-id/none-{n}").status_code == 404
    assert (lines.qsize(), logs._Background.dropped) == (2, 3)
    lines.put(None)
    logs._write_lines(lines, "json")
    written = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["path"] for line in written if "path" in line] == ["/query/by-id/none-0", "/query/by-id/none-1"]
    assert [line["dropped"] for line in written if "dropped" in line] == [3]
    assert logs._Background.dropped == 0
