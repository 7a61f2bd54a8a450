"""The ZIP round trip with Ceph (RADOS Gateway, Swift API) as the blob store, over HTTP.

Members larger than the store's segment size become Static Large Objects, so the round
trip also proves that segmented blobs stream back whole.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from assets_registry.apps.container import Services, build_container
from assets_registry.apps.settings import load_settings
from assets_registry.testing import bundle_zip, http_client, upload_bundle
from tests.servers.ceph import CephServer
from tests.stacks import run_jobs

pytestmark = pytest.mark.real_servers
MiB = 1 << 20


@pytest.fixture
def ceph_services(tmp_path: Path, ceph_server: CephServer) -> Iterator[Services]:
    blobs_url = ceph_server.blobs_url(segment_size=str(2 * MiB))
    services = build_container(load_settings(data_dir=tmp_path / "var", blobs_url=blobs_url)).services()
    yield services
    services.close()


def test_zip_round_trip_on_ceph(ceph_services: Services) -> None:
    rng = random.Random(7)
    files = {
        "weights/model.bin": rng.randbytes(5 * MiB + 123),  # three segments
        "config.json": b'{"layers": 12}',
        "empty.txt": b"",
        "docs/ünïcode name.md": "# héllo\n".encode(),
    }
    client = http_client(ceph_services)
    upload = upload_bundle(client, bundle_zip("ceph-1", files))
    assert upload.status_code == 202
    run_jobs(ceph_services)
    status = client.simulate_get(f"/zip/status/{upload.json['upload_id']}").json
    assert status["status"] == "success", status
    stored = ceph_services.registry.get("ceph-1").document  # answers show the files' routes
    assert all(f["asset_file_url"].startswith("ceph://") for f in stored["files"])

    download = client.simulate_get("/zip/download/ceph-1")
    assert download.status_code == 200
    assert int(download.headers["content-length"]) == len(download.content)
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    assert archive.testzip() is None
    assert {name: archive.read(name) for name in files} == files
    assert json.loads(archive.read("asset.json")) == stored


def test_deleting_an_asset_frees_its_blobs_on_ceph_and_the_sweep_takes_orphans(ceph_services: Services) -> None:
    client = http_client(ceph_services)
    files = {"weights/model.bin": random.Random(3).randbytes(3 * MiB), "config.json": b"{}"}
    assert upload_bundle(client, bundle_zip("ceph-gone", files)).status_code == 202
    run_jobs(ceph_services)
    stored = ceph_services.registry.get("ceph-gone").document
    keys = [ceph_services.blobs.key_for_url(f["asset_file_url"]) for f in stored["files"]]
    assert None not in keys and ceph_services.blobs.missing(keys) == []  # type: ignore[arg-type]
    assert client.simulate_delete("/assets/ceph-gone").status_code == 200
    ceph_services.janitor.drain()
    assert ceph_services.blobs.missing(keys) == keys  # type: ignore[arg-type]
    ceph_services.blobs.put("assets/crashed-upload/left.bin", [b"left"])
    found = ceph_services.janitor.sweep(dry_run=True, grace_seconds=0)
    assert [orphan.blob.key for orphan in found.orphans] == ["assets/crashed-upload/left.bin"]
    assert ceph_services.janitor.sweep(grace_seconds=0).deleted == 1
    assert ceph_services.blobs.missing(["assets/crashed-upload/left.bin"]) == ["assets/crashed-upload/left.bin"]
