"""The ZIP routes over HTTP, on the embedded default: upload, status, download, their errors."""

from __future__ import annotations

import io
import json
import os
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from falcon import testing

from assets_registry.apps.container import Services, build_container
from assets_registry.apps.http import create_app
from assets_registry.apps.settings import load_settings
from assets_registry.apps.workers import BundleWorkers
from assets_registry.core.bundles import IncompleteAsset
from assets_registry.testing import assert_problem, bundle_asset, bundle_zip, upload_bundle
from tests.stacks import run_jobs, stored_keys

SOME_FILES = {"model.bin": b"\x00\x01" * 50_000, "docs/readme.md": b"# hello\n"}


def bundle_bytes(asset_id: str = "zip-1", files: dict[str, bytes] | None = None, **fields: Any) -> bytes:
    return bundle_zip(bundle_asset(asset_id, **fields), SOME_FILES if files is None else files)


def test_upload_answers_202_and_the_job_ends_in_success(client: testing.TestClient, services: Services) -> None:
    result = upload_bundle(client, bundle_bytes())
    assert result.status_code == 202
    assert set(result.json) == {"success", "upload_id"}
    assert result.json["success"] is True
    upload_id = result.json["upload_id"]
    assert str(uuid.UUID(upload_id)) == upload_id
    assert result.headers["location"] == f"/zip/status/{upload_id}"
    assert client.simulate_get(f"/zip/status/{upload_id}").json == {
        "upload_id": upload_id,
        "status": "queued",
        "reason": "scheduled",
    }
    run_jobs(services)
    status = client.simulate_get(f"/zip/status/{upload_id}").json
    assert (status["upload_id"], status["status"], status["asset_id"]) == (upload_id, "success", "zip-1")
    assert status["progress"]["files_done"] == status["progress"]["files_total"] == 2
    asset = client.simulate_get("/query/by-id/zip-1").json
    assert sorted(asset["asset_file_ids"]) == ["docs/readme.md", "model.bin"]


def test_a_failed_job_reports_the_seeds_failed_status(client: testing.TestClient, services: Services) -> None:
    data = bundle_bytes(files={}, asset_file_ids=["model.bin"])
    upload_id = upload_bundle(client, data).json["upload_id"]
    run_jobs(services)
    status = client.simulate_get(f"/zip/status/{upload_id}").json
    assert status["status"] == "failed: asset_file_ids[0] model.bin is not in the archive"
    assert_problem(client.simulate_get("/query/by-id/zip-1"), 404, "asset_not_found")


def test_status_of_an_unknown_upload_is_404(client: testing.TestClient) -> None:
    assert_problem(client.simulate_get(f"/zip/status/{uuid.uuid4()}"), 404, "upload_not_found")


def test_an_upload_that_is_not_multipart_is_415(client: testing.TestClient) -> None:
    result = client.simulate_post("/zip/upload", body=bundle_bytes(), headers={"Content-Type": "application/zip"})
    assert "multipart/form-data" in assert_problem(result, 415, "unsupported_media_type")["detail"]


def test_an_upload_without_the_file_field_is_400(client: testing.TestClient) -> None:
    answer = upload_bundle(client, bundle_bytes(), field="archive")
    assert "'file'" in assert_problem(answer, 400, "missing_file")["detail"]


def test_an_empty_upload_is_400_and_stages_nothing(client: testing.TestClient, services: Services) -> None:
    assert_problem(upload_bundle(client, b""), 400, "empty_upload")
    assert services.jobs.claim("w", 60) is None
    assert stored_keys(services, "staging/") == []


def test_a_malformed_multipart_body_is_400(client: testing.TestClient) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    result = client.simulate_post("/zip/upload", body=b"--xyz\r\nnot a part", headers=headers)
    assert result.status_code == 400
    assert result.headers["content-type"] == "application/problem+json"


@pytest.fixture
def small_limits(tmp_path: Path) -> Iterator[Services]:
    services = build_container(load_settings(data_dir=tmp_path / "var", max_upload_bytes=50_000)).services()
    yield services
    services.close()


def test_an_upload_over_the_limit_is_413_and_stages_nothing(small_limits: Services) -> None:
    client = testing.TestClient(create_app(small_limits))
    assert_problem(upload_bundle(client, b"x" * 60_000), 413, "upload_too_large")
    assert_problem(upload_bundle(client, b"x" * 2_000_000), 413, "upload_too_large")  # refused from Content-Length
    assert stored_keys(small_limits, "staging/") == []
    assert upload_bundle(client, bundle_bytes(files={"a": b"small"})).status_code == 202


# -- download -------------------------------------------------------------------------------


def test_download_streams_the_asset_as_a_zip_with_exact_headers(client: testing.TestClient, services: Services) -> None:
    files = {"model.bin": bytes(range(256)) * 4000, "docs/readme.md": b"# hello\n", "empty.txt": b""}
    upload_bundle(client, bundle_bytes(files=files))
    run_jobs(services)
    head = client.simulate_head("/zip/download/zip-1")
    result = client.simulate_get("/zip/download/zip-1")
    assert result.status_code == head.status_code == 200
    assert result.headers["content-type"] == "application/zip"
    assert result.headers["content-disposition"].startswith("attachment; filename=zip-1.zip")
    assert int(head.headers["content-length"]) == int(result.headers["content-length"]) == len(result.content)
    archive = zipfile.ZipFile(io.BytesIO(result.content))
    assert archive.testzip() is None
    assert archive.namelist()[0] == "asset.json"
    assert {n: archive.read(n) for n in archive.namelist()[1:]} == files
    stored = services.registry.get("zip-1").document  # as stored: answers show files at their route
    assert json.loads(archive.read("asset.json")) == stored
    assert all(i.compress_type == zipfile.ZIP_STORED for i in archive.infolist())


def test_the_downloads_etag_follows_the_archives_bytes_not_the_revision(
    client: testing.TestClient, services: Services
) -> None:
    """Deleted and uploaded again with other files, the asset is at revision 1 again: its
    archive's ETag must still differ."""
    upload_bundle(client, bundle_bytes(files={"a.bin": b"first"}))
    run_jobs(services)
    first = client.simulate_head("/zip/download/zip-1").headers["etag"]
    assert client.simulate_get("/zip/download/zip-1").headers["etag"] == first
    assert client.simulate_delete("/assets/zip-1").status_code == 200
    upload_bundle(client, bundle_bytes(files={"a.bin": b"other"}))
    run_jobs(services)
    again = client.simulate_head("/zip/download/zip-1").headers["etag"]
    assert again.startswith('"zip-') and again != first


def test_download_of_an_unknown_asset_is_404(client: testing.TestClient) -> None:
    assert_problem(client.simulate_get("/zip/download/nope"), 404, "asset_not_found")
    assert client.simulate_head("/zip/download/nope").status_code == 404


def test_an_asset_whose_blob_is_gone_is_409_before_any_byte(client: testing.TestClient, services: Services) -> None:
    upload_bundle(client, bundle_bytes())
    run_jobs(services)
    asset = services.registry.get("zip-1").document
    key = services.blobs.key_for_url(asset["files"][0]["asset_file_url"])
    assert key is not None
    services.blobs.delete(key)
    body = assert_problem(client.simulate_get("/zip/download/zip-1"), 409, "incomplete_asset")
    assert "missing from the blob store" in body["detail"]


def test_a_blob_that_vanishes_mid_stream_never_yields_a_whole_looking_archive(
    client: testing.TestClient, services: Services
) -> None:
    upload_bundle(client, bundle_bytes(files={"a.bin": os.urandom(3_000_000), "b.bin": os.urandom(3_000_000)}))
    run_jobs(services)
    download = services.bundles.export("zip-1")
    asset = services.registry.get("zip-1").document
    received = bytearray()

    def delete_every_blob() -> None:
        for entry in asset["files"]:
            key = services.blobs.key_for_url(entry["asset_file_url"])
            assert key is not None
            services.blobs.delete(key)

    with pytest.raises(IncompleteAsset, match="vanished"):
        consume(download.chunks(), received, after_first=delete_every_blob)
    assert len(received) < download.size


@pytest.mark.parametrize("size", [100_000, 3_000_000], ids=["buffered member", "streamed member"])
@pytest.mark.parametrize("extra", [0, 1], ids=["same size", "one byte more"])
def test_a_blob_changed_behind_the_registrys_back_breaks_the_stream(
    client: testing.TestClient, services: Services, size: int, extra: int
) -> None:
    upload_bundle(client, bundle_bytes(files={"a.bin": os.urandom(size), "z.bin": b"z"}))
    run_jobs(services)
    asset = services.registry.get("zip-1").document
    key = services.blobs.key_for_url(asset["files"][0]["asset_file_url"])
    assert key is not None
    download = services.bundles.export("zip-1")  # checked and sized before the change
    services.blobs.put(key, [b"b" * (size + extra)])  # other bytes: only the CRC-32 or the size can tell
    received = bytearray()
    with pytest.raises(IncompleteAsset, match="CRC-32"):
        consume(download.chunks(), received)
    assert len(received) < download.size
    assert received.count(b"PK\x03\x04") <= 2, "no member after the changed one was sent"


def test_zip_routes_follow_the_read_and_write_split(services: Services) -> None:
    reader = testing.TestClient(create_app(services, "read"))
    writer = testing.TestClient(create_app(services, "write"))
    assert_problem(upload_bundle(reader, bundle_bytes()), 405, "write_routes_not_served")
    upload_id = upload_bundle(writer, bundle_bytes()).json["upload_id"]
    assert reader.simulate_get(f"/zip/status/{upload_id}").status_code == 200
    assert_problem(writer.simulate_get(f"/zip/status/{upload_id}"), 405, "read_routes_not_served")
    assert_problem(writer.simulate_get("/zip/download/zip-1"), 405, "read_routes_not_served")


def test_worker_threads_pick_up_uploads_as_they_are_queued(services: Services) -> None:
    workers = BundleWorkers(services.bundles, threads=2, poll_seconds=30).start()
    try:
        client = testing.TestClient(create_app(services, on_queued=workers.wake))
        ids = [upload_bundle(client, bundle_bytes(f"zip-{n}")).json["upload_id"] for n in range(4)]
        import time

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            states = [client.simulate_get(f"/zip/status/{i}").json["status"] for i in ids]
            if all(s == "success" for s in states):
                break
            time.sleep(0.05)
        assert states == ["success"] * 4
    finally:
        workers.stop()


def consume(chunks: Iterator[bytes], into: bytearray, after_first: Callable[[], None] = lambda: None) -> None:
    for n, chunk in enumerate(chunks):
        into += chunk
        if n == 0:
            after_first()


def test_the_zip_download_honours_its_etag(client: testing.TestClient, services: Services) -> None:
    upload_bundle(client, bundle_bytes("etag-zip"))
    run_jobs(services)
    first = client.simulate_get("/zip/download/etag-zip")
    assert first.status_code == 200
    tag = first.headers["etag"]
    again = client.simulate_get("/zip/download/etag-zip", headers={"If-None-Match": tag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
    assert (
        client.simulate_get("/zip/download/etag-zip", headers={"If-None-Match": f'"other", W/{tag}'}).status_code == 304
    )
    assert client.simulate_get("/zip/download/etag-zip", headers={"If-None-Match": '"other"'}).status_code == 200
