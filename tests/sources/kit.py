"""What the Asset Store's tests share: a loopback site to fetch from, an embedded store, tarballs."""

from __future__ import annotations

import io
import tarfile
import time
import zipfile
from http.server import SimpleHTTPRequestHandler
from typing import Any

from falcon import testing

from assets_registry.apps.container import Services
from assets_registry.apps.http import create_app

ASSET = {
    "asset_uri": "models://example.com/declared",
    "asset_version": "v1",
    "asset_profile_id": "profile-declared",
    "profiles": [
        {"asset_profile_id": "profile-declared", "asset_type": "model", "asset_sub_type": "llm", "asset_tags": []}
    ],
}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Store:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.client = testing.TestClient(create_app(services))
        services.asset_store.ensure_default_bucket()

    def put(self, path: str, body: Any) -> testing.Result:
        return self.client.simulate_put(path, json=body)

    def settle(self, rounds: int = 5) -> None:
        for _ in range(rounds):
            if self.services.imports.run_next("test") is None:
                return

    def source(self, asset_id: str) -> dict[str, Any]:
        result = self.client.simulate_get(f"/sources/{asset_id}")
        assert result.status_code == 200, result.text
        answer: dict[str, Any] = result.json
        return answer

    def download(self, asset_id: str) -> dict[str, bytes]:
        result = self.client.simulate_get(f"/zip/download/{asset_id}")
        assert result.status_code == 200, result.text
        with zipfile.ZipFile(io.BytesIO(result.content)) as archive:
            return {name: archive.read(name) for name in archive.namelist() if name != "asset.json"}


def tarball(files: dict[str, bytes], compression: str = "gz", links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as archive:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


FILES = {
    "docs/readme.md": b"# the model\n",
    "docs/card.md": b"---\ntitle: Card\n---\nbody\n",
    "weights/model.bin": bytes(range(256)) * 64,
    "scripts/train.py": b"print('hi')\n",
}


def bomb() -> bytes:
    """A tar.gz of 64 MiB of zeros: a few dozen KiB on the wire."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 64 << 20
        archive.addfile(info, io.BytesIO(bytes(info.size)))
    return buffer.getvalue()


def wait_for(store: Store, asset_id: str, reason: str, seconds: float = 60) -> dict[str, Any]:
    """The source's status once its reason is ``reason`` (workers elsewhere import it)."""
    deadline = time.monotonic() + seconds
    while True:
        status: dict[str, Any] = store.source(asset_id)["status"]
        if status["reason"] == reason:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"source {asset_id} did not reach {reason} in {seconds} s: {status}")
        time.sleep(0.2)
