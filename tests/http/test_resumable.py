"""Resumable uploads (tus 1.0 at ``/uploads/``) against real ``assets-registry serve`` processes.

``tuspy``, the reference Python tus client, is the independent client: an upload it stops at
90 % on one server process is resumed against another (another granian server: another
process, sharing only the backends), and only the rest is sent. The protocol's answers are
checked over plain HTTP, and a PATCH cut mid-body over a raw socket.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import socket
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from tusclient import client as tus
from tusclient.uploader.uploader import Uploader

from assets_registry.testing import bundle_asset, write_bundle
from tests.served import served_registry
from tests.stacks import STACKS, stack_settings

MiB = 1 << 20
TUS = {"Tus-Resumable": "1.0.0"}
STREAM = {**TUS, "Content-Type": "application/offset+octet-stream"}


class Sha256Uploader(Uploader):
    """tuspy sends sha1 checksums unless told; this one sends sha256."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


@pytest.fixture(scope="module", params=STACKS)
def two(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two server processes (one granian server per address) on the same backends."""
    with served_registry(tmp_path_factory.mktemp("tus"), 2, settings=stack_settings(request)) as urls:
        yield urls


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose uploads expire after 2 s and may be 1 MiB at most."""
    settings = {"ASSETS_UPLOAD_EXPIRY_SECONDS": "2", "ASSETS_MAX_UPLOAD_BYTES": str(MiB)}
    with served_registry(tmp_path_factory.mktemp("tus-small"), settings=settings) as (url,):
        yield url


def _bundle(tmp_path: Path, asset_id: str, size: int = 6 * MiB) -> tuple[Path, bytes]:
    data = random.Random(asset_id).randbytes(size)
    path = tmp_path / f"{asset_id}.zip"
    write_bundle(path, bundle_asset(asset_id), {"weights.bin": data}, compression=zipfile.ZIP_STORED)
    return path, data


def _ended(url: str, upload_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while (status := httpx.get(f"{url}/zip/status/{upload_id}").json())["status"] in ("queued", "processing"):
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    return dict(status)


def _create(url: str, length: int, **headers: str) -> str:
    answer = httpx.post(f"{url}/uploads/", headers={**TUS, "Upload-Length": str(length), **headers})
    assert answer.status_code == 201, answer.text
    return f"{url}{answer.headers['Location']}"


def test_tuspy_stopped_at_90_percent_resumes_on_another_process_sending_only_the_rest(
    two: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two
    path, data = _bundle(tmp_path, f"tus-{random.randrange(1 << 30)}")
    size = path.stat().st_size
    started = tus.TusClient(f"{first}/uploads/").uploader(
        str(path), chunk_size=MiB, metadata={"filename": path.name}, upload_checksum=True
    )  # sha1 checksums
    started.upload(stop_at=int(size * 0.9))
    assert started.url is not None
    assert int(size * 0.9) <= started.offset < size
    sent: list[int] = []
    real_patch = requests.patch

    def counted(url: str, data: bytes, **kwargs: Any) -> requests.Response:
        assert url.startswith(second)  # every byte of the rest goes to the other process
        sent.append(len(data))
        return real_patch(url, data=data, **kwargs)

    monkeypatch.setattr("tusclient.request.requests.patch", counted)
    resumed = Sha256Uploader(
        str(path), client=tus.TusClient(f"{second}/uploads/"), url=started.url.replace(first, second),
        chunk_size=MiB, upload_checksum=True,
    )  # fmt: skip
    assert resumed.offset == started.offset  # HEAD on the other process knows how far the first got
    resumed.upload()
    assert sum(sent) == size - started.offset <= 0.15 * size
    upload_id = started.url.rsplit("/", 1)[1]
    head = httpx.head(f"{first}/uploads/{upload_id}", headers=TUS)
    assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == (str(size), str(size))
    assert head.headers["Link"] == f'</zip/status/{upload_id}>; rel="status"'
    status = _ended(first, upload_id)
    assert status["status"] == "success", status
    archive = httpx.get(f"{second}/zip/download/{status['asset_id']}").content
    assert zipfile.ZipFile(io.BytesIO(archive)).read("weights.bin") == data


def test_a_patch_cut_mid_body_keeps_what_arrived_and_the_rest_completes_it(two: list[str], tmp_path: Path) -> None:
    url = two[0]
    path, _data = _bundle(tmp_path, f"cut-{random.randrange(1 << 30)}", 4 * MiB)
    body = path.read_bytes()
    upload = _create(url, len(body))
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as raw:
        target = upload.removeprefix(url)
        raw.sendall(
            f"PATCH {target} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        raw.sendall(body[: 3 * MiB + 12345])
        time.sleep(0.5)  # the client goes away with three quarters sent
    deadline = time.monotonic() + 10
    while (offset := int(httpx.head(upload, headers=TUS).headers["Upload-Offset"])) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert offset == 3 * MiB + 12345
    rest = httpx.patch(upload, content=body[offset:], headers={**STREAM, "Upload-Offset": str(offset)})
    assert rest.status_code == 204 and rest.headers["Upload-Offset"] == str(len(body))
    assert _ended(url, upload.rsplit("/", 1)[1])["status"] == "success"


def test_the_protocol_answers(two: list[str], tmp_path: Path) -> None:
    url = two[0]
    options = httpx.options(f"{url}/uploads/")
    assert options.status_code == 204
    assert options.headers["Tus-Version"] == "1.0.0" and options.headers["Tus-Resumable"] == "1.0.0"
    assert set(options.headers["Tus-Extension"].split(",")) >= {"creation", "termination", "checksum", "expiration"}
    assert "sha256" in options.headers["Tus-Checksum-Algorithm"].split(",")
    assert int(options.headers["Tus-Max-Size"]) > 0

    unversioned = httpx.post(f"{url}/uploads/", headers={"Upload-Length": "10"})
    assert (unversioned.status_code, unversioned.headers["Tus-Version"]) == (412, "1.0.0")
    assert unversioned.json()["code"] == "tus_version_unsupported"
    for headers, code in (
        ({"Upload-Length": "ten"}, "invalid_input"),
        ({}, "invalid_input"),
        ({"Upload-Length": "0"}, "empty_upload"),
        ({"Upload-Length": "10", "Upload-Defer-Length": "1"}, "invalid_input"),
        ({"Upload-Length": "10", "Upload-Metadata": "filename !!notbase64"}, "invalid_input"),
    ):
        refused = httpx.post(f"{url}/uploads/", headers={**TUS, **headers})
        assert (refused.status_code, refused.json()["code"]) == (400, code), headers
    no_bucket = httpx.post(
        f"{url}/uploads/", headers={**TUS, "Upload-Length": "10", "Upload-Metadata": f"bucket {_b64('nope')}"}
    )
    assert (no_bucket.status_code, no_bucket.json()["code"]) == (404, "bucket_not_found")

    upload = _create(url, 10, **{"Upload-Metadata": f"filename {_b64('x.zip')},flag"})
    head = httpx.head(upload, headers=TUS)
    assert (head.status_code, head.headers["Upload-Offset"], head.headers["Upload-Length"]) == (200, "0", "10")
    assert head.headers["Upload-Metadata"] == f"filename {_b64('x.zip')},flag"
    assert head.headers["Cache-Control"] == "no-store" and "Upload-Expires" in head.headers
    wrong_type = httpx.patch(upload, content=b"12345", headers={**TUS, "Upload-Offset": "0"})
    assert wrong_type.status_code == 415
    wrong_offset = httpx.patch(upload, content=b"12345", headers={**STREAM, "Upload-Offset": "3"})
    assert (wrong_offset.status_code, wrong_offset.headers["Upload-Offset"]) == (409, "0")
    assert wrong_offset.json()["code"] == "offset_mismatch"
    bad_sum = httpx.patch(
        upload, content=b"12345", headers={**STREAM, "Upload-Offset": "0", "Upload-Checksum": f"sha256 {_b64('x')}"}
    )
    assert (bad_sum.status_code, bad_sum.json()["code"]) == (460, "checksum_mismatch")
    unknown_sum = httpx.patch(
        upload, content=b"12345", headers={**STREAM, "Upload-Offset": "0", "Upload-Checksum": "crc32 AAAA"}
    )
    assert unknown_sum.status_code == 400
    too_long = httpx.patch(upload, content=b"x" * 11, headers={**STREAM, "Upload-Offset": "0"})
    assert (too_long.status_code, too_long.json()["code"]) == (413, "past_upload_length")
    assert httpx.head(upload, headers=TUS).headers["Upload-Offset"] == "0"  # nothing refused was kept
    digest = base64.b64encode(hashlib.sha256(b"12345").digest()).decode()
    good = httpx.patch(
        upload, content=b"12345", headers={**STREAM, "Upload-Offset": "0", "Upload-Checksum": f"sha256 {digest}"}
    )
    assert (good.status_code, good.headers["Upload-Offset"]) == (204, "5")
    overridden = httpx.post(upload, content=b"67", headers={**STREAM, "Upload-Offset": "5",
                                                            "X-HTTP-Method-Override": "PATCH"})  # fmt: skip
    assert (overridden.status_code, overridden.headers["Upload-Offset"]) == (204, "7")
    assert httpx.post(upload, content=b"8", headers={**STREAM, "Upload-Offset": "7"}).status_code == 400
    assert httpx.post(upload, headers={**TUS, "X-HTTP-Method-Override": "DELETE"}).status_code == 204
    gone = httpx.head(upload, headers=TUS)
    assert gone.status_code == 404
    for other in ("..", "not-an-id", upload.rsplit("/", 1)[1].upper()):
        assert httpx.head(f"{url}/uploads/{other}", headers=TUS).status_code == 404
    assert httpx.patch(upload, content=b"1", headers={**STREAM, "Upload-Offset": "5"}).status_code == 404


def test_creation_with_upload_and_a_finished_upload_cannot_be_changed(two: list[str], tmp_path: Path) -> None:
    url = two[0]
    path, data = _bundle(tmp_path, f"whole-{random.randrange(1 << 30)}", 100_000)
    body = path.read_bytes()
    created = httpx.post(f"{url}/uploads/", content=body, headers={**STREAM, "Upload-Length": str(len(body))})
    assert created.status_code == 201 and created.headers["Upload-Offset"] == str(len(body))
    upload = f"{url}{created.headers['Location']}"
    again = httpx.patch(upload, content=b"x", headers={**STREAM, "Upload-Offset": str(len(body))})
    assert (again.status_code, again.json()["code"]) == (409, "upload_complete")
    assert httpx.delete(upload, headers=TUS).status_code == 409
    status = _ended(url, upload.rsplit("/", 1)[1])
    assert status["status"] == "success"
    archive = httpx.get(f"{url}/zip/download/{status['asset_id']}").content
    assert zipfile.ZipFile(io.BytesIO(archive)).read("weights.bin") == data


def test_a_resumed_upload_that_is_no_bundle_fails_its_job_and_leaves_nothing(two: list[str]) -> None:
    url = two[0]
    junk = random.Random(3).randbytes(300_000)
    upload = _create(url, len(junk))
    for start in range(0, len(junk), 100_000):
        piece = junk[start : start + 100_000]
        assert httpx.patch(upload, content=piece, headers={**STREAM, "Upload-Offset": str(start)}).status_code == 204
    status = _ended(url, upload.rsplit("/", 1)[1])
    assert status["status"].startswith("failed: ") and "ZIP" in status["status"], status


def test_uploads_expire_and_lengths_are_bounded(small: str) -> None:
    too_big = httpx.post(f"{small}/uploads/", headers={**TUS, "Upload-Length": str(MiB + 1)})
    assert (too_big.status_code, too_big.json()["code"]) == (413, "upload_too_large")
    upload = _create(small, 100)
    assert httpx.patch(upload, content=b"x" * 10, headers={**STREAM, "Upload-Offset": "0"}).status_code == 204
    time.sleep(2.5)
    assert httpx.head(upload, headers=TUS).status_code == 410
    late = httpx.patch(upload, content=b"x", headers={**STREAM, "Upload-Offset": "10"})
    assert (late.status_code, late.json()["code"]) == (410, "upload_expired")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
