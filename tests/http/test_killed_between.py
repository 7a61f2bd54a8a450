"""A server killed between an asset's deletion and the freeing of its files loses nothing and, after
a sweep, keeps nothing: on the embedded default and on MongoDB + S3 + Redis, with real processes.

The asset has 1,500 files, so freeing them takes a while after ``DELETE`` has answered; the
server's processes are SIGKILLed as soon as the answer arrives. Whatever the kill left, a
restart and ``assets-registry gc --grace 0`` take the deleted asset's blobs and nothing of
the asset that is still there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from assets_registry.apps.container import build_container
from assets_registry.apps.settings import load_settings
from assets_registry.testing import bundle_zip, upload_form
from tests.served import free_port, registry_env, registry_process
from tests.stacks import STACKS, stack_settings

FILES = 1500


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _call(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def _upload(url: str, asset_id: str) -> None:
    files = {f"part-{n:04}.bin": f"{asset_id}-{n}".encode() for n in range(FILES)}
    body, headers = upload_form(bundle_zip(asset_id, files))
    upload_id = _call(f"{url}/zip/upload", "POST", body, headers)["upload_id"]
    deadline = time.monotonic() + 180
    while (status := _call(f"{url}/zip/status/{upload_id}")["status"]) in ("queued", "processing"):
        assert time.monotonic() < deadline, "the upload did not end"
        time.sleep(0.2)
    assert status == "success", status


@pytest.fixture(params=STACKS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    return {"ASSETS_DATA_DIR": str(tmp_path / "var"), **stack_settings(request)}


@pytest.mark.slow  # two uploads of 1,500 files and a killed server, ~15 s a stack
def test_a_server_killed_while_freeing_files_leaves_what_a_sweep_takes(settings: dict[str, str]) -> None:
    address = f"127.0.0.1:{free_port()}"
    url = f"http://{address}"
    args = ["serve", "--bind", address, "--workers", "1"]
    if "ASSETS_JOB_THREADS" in settings:  # the real stack: its own workers run the jobs
        args += ["--threads", "4"]
    with registry_process(args, settings) as server:
        deadline = time.monotonic() + 30
        while True:
            try:
                _call(f"{url}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.1)
        _upload(url, "kept")
        _upload(url, "deleted")
        reader = build_container(load_settings(**_as_settings(settings))).services()  # the stored blob URLs
        try:
            kept = [f["asset_file_url"] for f in reader.registry.get("kept").document["files"]]
            deleted = [f["asset_file_url"] for f in reader.registry.get("deleted").document["files"]]
        finally:
            reader.close()
        assert _call(f"{url}/assets/deleted", "DELETE")["success"] is True
        for pid in [*_children(server.pid), server.pid]:
            os.kill(pid, signal.SIGKILL)
        server.wait(10)

    services = build_container(load_settings(**_as_settings(settings))).services()
    try:
        blobs = services.blobs
        deleted_keys = [k for k in map(blobs.key_for_url, deleted) if k is not None]
        kept_keys = [k for k in map(blobs.key_for_url, kept) if k is not None]
        left = len(deleted_keys) - len(blobs.missing(deleted_keys))
        print(f"\nthe kill left {left} of the deleted asset's {FILES} blobs")
        assert left > 0, "the kill came after the freeing: the window this test is about was missed"
        env = registry_env(settings)
        done = subprocess.run(
            [sys.executable, "-m", "assets_registry", "gc", "--grace", "0"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert blobs.missing(deleted_keys) == deleted_keys, "the sweep took every blob of the deleted asset"
        assert blobs.missing(kept_keys) == [], "and nothing of the asset still there"
        assert services.registry.get("kept").document["files"][0]["asset_file_url"] == kept[0]
    finally:
        services.close()


def _as_settings(environment: dict[str, str]) -> dict[str, Any]:
    names = {"ASSETS_DATA_DIR": "data_dir", "ASSETS_METADATA_URL": "metadata_url", "ASSETS_BLOBS_URL": "blobs_url"}
    names |= {"ASSETS_JOBS_URL": "jobs_url"}
    return {setting: environment[name] for name, setting in names.items() if name in environment}
