"""``GET``/``HEAD /assets/{asset_id}/files/{file_id}``: one file, its digests, ranges and conditions."""

from __future__ import annotations

import base64
import hashlib

from falcon import testing

from assets_registry.apps.container import Services
from assets_registry.testing import assert_problem, bundle_asset, bundle_zip, upload_bundle
from tests.seed import SEED_ASSET
from tests.stacks import run_jobs

DATA = bytes(range(256)) * 40  # 10,240 bytes


def _stored(client: testing.TestClient, services: Services) -> None:
    files = {"weights/model.bin": DATA, "notes.txt": b"notes\n"}
    assert upload_bundle(client, bundle_zip(bundle_asset("with-files"), files)).status_code == 202
    run_jobs(services)


def test_a_file_streams_with_its_type_and_digests(client: testing.TestClient, services: Services) -> None:
    _stored(client, services)
    got = client.simulate_get("/assets/with-files/files/weights/model.bin")
    assert got.status_code == 200 and got.content == DATA
    digest = hashlib.sha256(DATA).digest()
    assert got.headers["etag"] == f'"{digest.hex()}"'
    assert got.headers["repr-digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
    assert got.headers["accept-ranges"] == "bytes" and got.headers["content-length"] == str(len(DATA))
    assert client.simulate_get("/assets/with-files/files/notes.txt").headers["content-type"].startswith("text/plain")
    head = client.simulate_head("/assets/with-files/files/weights/model.bin")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", str(len(DATA)))
    again = client.simulate_get(
        "/assets/with-files/files/weights/model.bin", headers={"If-None-Match": got.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")


def test_ranges(client: testing.TestClient, services: Services) -> None:
    _stored(client, services)
    path = "/assets/with-files/files/weights/model.bin"
    size = len(DATA)
    for header, first, last in (("bytes=0-99", 0, 99), ("bytes=10000-", 10000, size - 1), ("bytes=-40", size - 40,
                                size - 1), ("bytes=10200-99999", 10200, size - 1)):  # fmt: skip
        part = client.simulate_get(path, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == DATA[first : last + 1], header
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
    past = client.simulate_get(path, headers={"Range": f"bytes={size}-"})
    assert (past.status_code, past.headers["content-range"]) == (416, f"bytes */{size}")
    etag = client.simulate_head(path).headers["etag"]
    assert client.simulate_get(path, headers={"Range": "bytes=0-9", "If-Range": etag}).status_code == 206
    assert client.simulate_get(path, headers={"Range": "bytes=0-9", "If-Range": '"old"'}).content == DATA
    assert client.simulate_get(path, headers={"Range": "bytes=0-1,5-9"}).content == DATA, "several: the whole file"


def test_unknown_files_and_files_stored_elsewhere(client: testing.TestClient, services: Services) -> None:
    _stored(client, services)
    assert_problem(client.simulate_get("/assets/with-files/files/nope.bin"), 404, "file_not_found")
    assert_problem(client.simulate_get("/assets/nothing/files/x"), 404, "asset_not_found")
    elsewhere = {"asset_file_id": "w.bin", "asset_file_type": "weights", "asset_file_mime_type": "application/x",
                 "asset_file_url": "https://models.example.com/w.bin"}  # fmt: skip
    document = {**SEED_ASSET, "asset_file_ids": ["w.bin"], "files": [elsewhere]}
    assert client.simulate_post("/assets", json=document).status_code == 201
    problem = assert_problem(client.simulate_get("/assets/asset-001/files/w.bin"), 404, "file_not_stored")
    assert "https://models.example.com/w.bin" in problem["detail"]


def test_ranges_of_the_zip_download(client: testing.TestClient, services: Services) -> None:
    """The archive's length is known before it is made, and its bytes are the same each time."""
    _stored(client, services)
    path = "/zip/download/with-files"
    whole = client.simulate_get(path)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    size, tag = len(whole.content), whole.headers["etag"]
    assert client.simulate_head(path).headers["accept-ranges"] == "bytes"
    cases = [("bytes=100-199", 100, 199), ("bytes=0-0", 0, 0), (f"bytes={size - 5}-", size - 5, size - 1)]
    cases += [("bytes=-22", size - 22, size - 1), ("bytes=9000-", 9000, size - 1)]
    for header, first, last in cases:
        part = client.simulate_get(path, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == whole.content[first : last + 1], header
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.headers["content-length"] == str(last - first + 1)
    past = client.simulate_get(path, headers={"Range": f"bytes={size}-"})
    assert (past.status_code, past.headers["content-range"], past.content) == (416, f"bytes */{size}", b"")
    assert client.simulate_get(path, headers={"Range": "bytes=0-9", "If-Range": tag}).status_code == 206
    stale = client.simulate_get(path, headers={"Range": "bytes=0-9", "If-Range": '"zip-old"'})
    assert (stale.status_code, stale.content) == (200, whole.content)


def test_answers_give_each_stored_file_at_its_route(client: testing.TestClient, services: Services) -> None:
    _stored(client, services)
    shown = client.simulate_get("/query/by-id/with-files").json
    urls = {f["asset_file_id"]: f["asset_file_url"] for f in shown["files"]}
    base = "http://falconframework.org"  # the test client's host: the request's own
    assert urls == {name: f"{base}/assets/with-files/files/{name}" for name in ("weights/model.bin", "notes.txt")}
    assert client.simulate_get(urls["weights/model.bin"].removeprefix(base)).content == DATA
    stored = services.registry.get("with-files").document["files"]
    assert all(services.blobs.key_for_url(f["asset_file_url"]) for f in stored), "the store keeps its own URLs"
    for answer in (client.simulate_post("/query/search", json={"asset_id": "with-files"}).json[0],
                   client.simulate_get("/query/by-type/model").json[0]):  # fmt: skip
        assert {f["asset_file_url"] for f in answer["files"]} == set(urls.values())
    graphql = client.simulate_post("/graphql", json={"query": '{ getAssetById(assetId: "with-files") { files } }'})
    assert {f["asset_file_url"] for f in graphql.json["data"]["getAssetById"]["files"]} == set(urls.values())


def test_a_document_sent_back_as_answered_keeps_its_stored_files(
    client: testing.TestClient, services: Services
) -> None:
    _stored(client, services)
    before = services.registry.get("with-files").document["files"]
    shown = client.simulate_get("/query/by-id/with-files")
    changed = client.simulate_put(
        "/assets/with-files",
        json={"files": shown.json["files"], "asset_brief_description": "round trip"},
        headers={"If-Match": shown.headers["etag"]},
    )
    assert changed.status_code == 200, changed.text
    assert services.registry.get("with-files").document["files"] == before
    assert client.simulate_get("/assets/with-files/files/weights/model.bin").content == DATA
    elsewhere = [{**shown.json["files"][0], "asset_file_url": "https://mirror.example.org/model.bin"}]
    kept = client.simulate_put("/assets/with-files", json={"files": elsewhere, "asset_file_ids": ["weights/model.bin"]})
    assert kept.json["files"][0]["asset_file_url"] == "https://mirror.example.org/model.bin"  # not a stored file


def test_public_url_is_the_base_of_file_urls(services: Services) -> None:
    import dataclasses

    from assets_registry.apps.http import create_app

    settings = services.settings.model_copy(update={"public_url": "https://registry.example.org/api/"})
    client = testing.TestClient(create_app(dataclasses.replace(services, settings=settings)))
    _stored(client, services)
    url = client.simulate_get("/query/by-id/with-files").json["files"][0]["asset_file_url"]
    assert url.startswith("https://registry.example.org/api/assets/with-files/files/")
