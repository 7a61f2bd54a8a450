"""Buckets beyond sources: ZIP uploads into a named bucket, what deleting a bucket takes, the
Asset Store over GraphQL, and read replicas serving ``GET /buckets`` and ``GET /sources``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from falcon import testing

from assets_registry.apps.http import create_app
from assets_registry.apps.server import check_setup
from assets_registry.apps.settings import load_settings
from assets_registry.core.errors import ConfigurationError
from assets_registry.testing import assert_problem, bundle_asset, bundle_zip, upload_form
from tests.sources.kit import ASSET, Store


def _upload(store: Store, asset_id: str, files: dict[str, bytes], **params: str) -> testing.Result:
    body, headers = upload_form(bundle_zip(bundle_asset(asset_id), files))
    return store.client.simulate_post("/zip/upload", body=body, headers=headers, params=params)


def _run_jobs(store: Store) -> None:
    while store.services.bundles.run_next("t") is not None:
        pass


def _keys(store: Store, folder: str) -> list[str]:
    return sorted(blob.key for blob in store.services.blobs.listing(folder))


def test_a_zip_upload_into_a_named_bucket_stores_its_files_in_the_buckets_folder(make_store: Any) -> None:
    store = make_store()
    assert store.put("/buckets/models", {"policy": "readonly"}).status_code == 201
    accepted = _upload(store, "in-models", {"weights/a.bin": b"a" * 100}, bucket="models")
    assert accepted.status_code == 202, accepted.text
    _run_jobs(store)
    status = store.client.simulate_get(f"/zip/status/{accepted.json['upload_id']}").json
    assert (status["status"], status["reason"]) == ("success", "uploaded")
    upload_id = accepted.json["upload_id"]
    assert _keys(store, "assets/b.models/") == ["assets/b.models/.bucket", f"assets/b.models/{upload_id}/weights/a.bin"]
    assert store.download("in-models") == {"weights/a.bin": b"a" * 100}
    # Without a bucket (or naming the default one) an upload keeps the layout it always had.
    for n, params in enumerate(({}, {"bucket": "default"})):
        plain = _upload(store, f"plain-{n}", {"b.txt": b"b"}, **params)
        _run_jobs(store)
        assert _keys(store, f"assets/{plain.json['upload_id']}/") == [f"assets/{plain.json['upload_id']}/b.txt"]


def test_a_sweep_spares_the_files_of_an_upload_into_a_bucket_while_its_job_waits(make_store: Any) -> None:
    store = make_store()
    store.put("/buckets/models", {})
    accepted = _upload(store, "kept", {"a.txt": b"a"}, bucket="models")
    early = f"assets/b.models/{accepted.json['upload_id']}/a.txt"
    assert early in _keys(store, "assets/b.models/"), "the member was stored while the upload streamed in"
    report = store.services.janitor.sweep(grace_seconds=0)  # the job has not run: nothing refers to the file yet
    assert early not in [o.blob.key for o in report.orphans], report.orphans
    _run_jobs(store)
    assert not store.services.janitor.sweep(grace_seconds=0).orphans
    assert store.download("kept") == {"a.txt": b"a"}


def test_buckets_whose_names_share_a_prefix_keep_their_own_assets(make_store: Any) -> None:
    store = make_store()
    for name in ("models", "models-2", "models2"):
        store.put(f"/buckets/{name}", {})
        _upload(store, f"in-{name}", {"a.txt": name.encode()}, bucket=name)
    _run_jobs(store)
    assert store.client.simulate_delete("/buckets/models", params={"force": "true"}).status_code == 204
    assert_problem(store.client.simulate_get("/query/by-id/in-models"), 404, "asset_not_found")
    for name in ("models-2", "models2"):
        assert store.download(f"in-{name}") == {"a.txt": name.encode()}
        problem = assert_problem(store.client.simulate_delete(f"/buckets/{name}"), 409, "bucket_not_empty")
        assert problem["detail"].count("in-") == 1 and f"in-{name}" in problem["detail"], problem


@pytest.mark.parametrize("force", [False, True])
def test_an_upload_into_a_bucket_deleted_before_its_job_ran_is_not_registered(make_store: Any, force: bool) -> None:
    store = make_store()
    store.put("/buckets/models", {})
    accepted = _upload(store, "too-late", {"a.txt": b"a"}, bucket="models")
    params = {"force": "true"} if force else {}
    assert store.client.simulate_delete("/buckets/models", params=params).status_code == 204
    _run_jobs(store)
    status = store.client.simulate_get(f"/zip/status/{accepted.json['upload_id']}").json
    assert status["status"].startswith("failed: ") and "was deleted" in status["status"], status
    assert_problem(store.client.simulate_get("/query/by-id/too-late"), 404, "asset_not_found")
    assert not _keys(store, "assets/b.models/")


def test_a_bucket_being_deleted_takes_no_upload_is_not_remade_by_its_check_and_a_put_revives_it(
    make_store: Any,
) -> None:
    store = make_store()
    store.put("/buckets/models", {})
    catalog = store.services.asset_store.catalog
    record = catalog.get("buckets", "models")  # as a delete whose process died would leave it
    stuck = {"phase": "Terminating", "reason": "bucket_deleting", "message": "the bucket is being deleted"}
    catalog.replace("buckets", "models", {**record.document, "status": stuck, "due": 0}, record.version)
    assert_problem(_upload(store, "x", {"a.txt": b"a"}, bucket="models"), 409, "bucket_not_ready")
    store.services.asset_store.check_buckets(60)
    assert store.client.simulate_get("/buckets/models").json["status"]["phase"] == "Terminating"
    revived = store.put("/buckets/models", {})
    assert (revived.status_code, revived.json["status"]["phase"]) == (200, "Ready")


def test_a_bucket_name_ending_in_a_newline_is_refused(make_store: Any) -> None:
    store = make_store()
    assert_problem(store.put("/buckets/abc%0A", {}), 400, "invalid_input")
    assert_problem(store.client.simulate_put("/buckets/abc\n", json={}), 400, "invalid_input")


def test_an_upload_naming_an_unknown_or_failed_bucket_is_refused_before_its_body_is_read(make_store: Any) -> None:
    store = make_store()
    problem = assert_problem(_upload(store, "x", {"a.txt": b"a"}, bucket="nowhere"), 404, "bucket_not_found")
    assert "PUT /buckets/nowhere" in problem["detail"]
    store.put("/buckets/broken", {})
    record = store.services.asset_store.catalog.get("buckets", "broken")
    failed = {"phase": "Failed", "reason": "bucket_verification_failure", "message": "the store did not answer"}
    store.services.asset_store.catalog.replace(
        "buckets", "broken", {**record.document, "status": failed}, record.version
    )
    assert_problem(_upload(store, "x", {"a.txt": b"a"}, bucket="broken"), 409, "bucket_not_ready")
    assert not _keys(store, "staging/"), "nothing was staged"


def test_deleting_a_bucket_that_holds_uploaded_assets_takes_force(make_store: Any) -> None:
    store = make_store()
    store.put("/buckets/models", {})
    store.put("/buckets/other", {})
    _upload(store, "in-models", {"a.txt": b"a"}, bucket="models")
    _upload(store, "in-other", {"a.txt": b"a"}, bucket="other")
    _upload(store, "in-default", {"a.txt": b"a"})
    _run_jobs(store)
    problem = assert_problem(store.client.simulate_delete("/buckets/models"), 409, "bucket_not_empty")
    assert "in-models" in problem["detail"] and "force=true" in problem["detail"]
    assert store.client.simulate_delete("/buckets/models", params={"force": "true"}).status_code == 204
    assert_problem(store.client.simulate_get("/query/by-id/in-models"), 404, "asset_not_found")
    assert not _keys(store, "assets/b.models/")
    for kept in ("in-other", "in-default"):
        assert store.client.simulate_get(f"/query/by-id/{kept}").status_code == 200
    assert_problem(store.client.simulate_get("/buckets/models"), 404, "bucket_not_found")
    # The default bucket holds every upload without ?bucket=: it cannot be deleted, even by force.
    for params in ({}, {"force": "true"}):
        assert_problem(store.client.simulate_delete("/buckets/default", params=params), 409, "bucket_is_default")
    assert store.client.simulate_get("/query/by-id/in-default").status_code == 200


def test_an_empty_bucket_is_deleted_without_force(make_store: Any) -> None:
    store = make_store()
    store.put("/buckets/empty", {})
    assert store.client.simulate_delete("/buckets/empty").status_code == 204
    assert not _keys(store, "assets/b.empty/")


def _graphql(store: Store, query: str, **variables: Any) -> dict[str, Any]:
    result = store.client.simulate_post("/graphql", json={"query": query, "variables": variables})
    assert result.status_code == 200, result.text
    assert "errors" not in result.json, result.json
    data: dict[str, Any] = result.json["data"]
    return data


def test_graphql_reads_buckets_and_sources(site: tuple[Path, str], make_store: Any) -> None:
    root, url = site
    (root / "f.txt").write_bytes(b"f")
    store = make_store()
    store.put("/buckets/models", {"policy": "readwrite", "region": "eu"})
    store.put("/sources/declared", {"url": f"{url}/f.txt", "bucket": "models", "asset": ASSET})
    store.put("/sources/waiting", {"url": f"{url}/f.txt", "bucket": "later", "asset": ASSET})
    store.settle()
    data = _graphql(
        store,
        """query($name: String!) {
             bucket(name: $name) { name region policy url status { phase reason lastChecked } }
             missing: bucket(name: "nope") { name }
             buckets(limit: 1) { items { name } nextCursor }
           }""",
        name="models",
    )
    bucket = data["bucket"]
    assert (bucket["name"], bucket["region"], bucket["policy"]) == ("models", "eu", "readwrite")
    assert bucket["status"]["phase"] == "Ready" and bucket["status"]["lastChecked"]
    assert bucket["url"] == store.client.simulate_get("/buckets/models").json["url"]
    assert data["missing"] is None
    assert [b["name"] for b in data["buckets"]["items"]] == ["default"]
    cursor = data["buckets"]["nextCursor"]
    rest = _graphql(store, "query($c: String) { buckets(cursor: $c) { items { name } nextCursor } }", c=cursor)
    assert rest["buckets"] == {"items": [{"name": "models"}], "nextCursor": None}
    data = _graphql(
        store,
        """{ source(assetId: "declared") { assetId bucket url mode generation asset
               status { phase reason observedGeneration files } }
             sources(bucket: "later") { items { assetId status { phase reason } } } }""",
    )
    source = data["source"]
    assert (source["assetId"], source["bucket"], source["mode"], source["generation"]) == (
        "declared",
        "models",
        "single",
        1,
    )
    assert source["asset"]["asset_uri"] == ASSET["asset_uri"]
    assert (source["status"]["phase"], source["status"]["reason"], source["status"]["observedGeneration"]) == (
        "Ready",
        "uploaded",
        1,
    )
    assert [f["name"] for f in source["status"]["files"]] == ["f.txt"]
    assert data["sources"]["items"] == [
        {"assetId": "waiting", "status": {"phase": "Pending", "reason": "bucket_not_ready"}}
    ]
    assert _graphql(store, '{ source(assetId: "nope") { assetId } }') == {"source": None}


def test_a_read_replica_serves_the_declarations_and_refuses_changes(make_store: Any) -> None:
    store = make_store()
    store.put("/buckets/models", {})
    store.put("/sources/declared", {"url": "http://example.com/f.txt", "bucket": "models", "asset": ASSET})
    replica = testing.TestClient(create_app(store.services, routes="read"))
    assert {b["name"] for b in replica.simulate_get("/buckets").json} == {"default", "models"}
    assert replica.simulate_get("/buckets/models").json["name"] == "models"
    assert [s["asset_id"] for s in replica.simulate_get("/sources").json] == ["declared"]
    assert replica.simulate_get("/sources/declared").json["bucket"] == "models"
    for method, path in (("PUT", "/buckets/x"), ("DELETE", "/buckets/models"), ("PUT", "/sources/y"),
                         ("DELETE", "/sources/declared")):  # fmt: skip
        result = replica.simulate_request(method, path, json={"url": "http://example.com/f"})
        problem = assert_problem(result, 405, "write_routes_not_served")
        assert "routes=read" in problem["detail"]
    assert store.client.simulate_get("/sources/declared").status_code == 200
    writer = testing.TestClient(create_app(store.services, routes="write"))
    assert writer.simulate_get("/buckets/models").status_code == 200


def test_an_upload_naming_a_bucket_that_cannot_exist_is_a_bad_request(make_store: Any) -> None:
    store = make_store()
    problem = assert_problem(_upload(store, "x", {"a.txt": b"a"}, bucket="Bad_Name"), 400, "invalid_input")
    assert problem["errors"][0]["path"] == "bucket", problem


def test_a_bucket_blobs_url_without_its_placeholder_or_with_an_unknown_scheme_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"\{bucket\}"):
        load_settings(data_dir=tmp_path, bucket_blobs_url="s3://one-bucket")
    with pytest.raises(ConfigurationError, match="nope"):
        check_setup(load_settings(data_dir=tmp_path, bucket_blobs_url="nope://x-{bucket}"))


def test_folders_of_their_own_on_the_embedded_default(make_store: Any, tmp_path: Path) -> None:
    """Any blob adapter can hold the buckets: here a ``file://`` folder per bucket."""
    folders = tmp_path / "buckets"
    store = make_store(bucket_blobs_url=f"file://{folders}/{{bucket}}")
    store.put("/buckets/models", {})
    accepted = _upload(store, "own-folder", {"a.txt": b"a"}, bucket="models")
    _run_jobs(store)
    upload_id = accepted.json["upload_id"]
    assert (folders / "models" / "assets" / "b.models" / upload_id / "a.txt").read_bytes() == b"a"
    assert store.download("own-folder") == {"a.txt": b"a"}
    assert not store.services.janitor.sweep(grace_seconds=0).orphans
    assert store.client.simulate_delete("/buckets/models", params={"force": "true"}).status_code == 204
    assert not [p for p in (folders / "models").rglob("*") if p.is_file()]


def test_a_client_url_naming_a_bucket_folder_opens_no_store(make_store: Any, tmp_path: Path) -> None:
    folders = tmp_path / "buckets"
    store = make_store(bucket_blobs_url=f"file://{folders}/{{bucket}}")
    document = bundle_asset("foreign")
    document["asset_file_ids"] = ["f"]
    document["files"] = [{"asset_file_id": "f", "asset_file_type": "data", "asset_file_mime_type": "text/plain",
                          "asset_file_url": "https://evil.example/assets/b.made-up/f"}]  # fmt: skip
    created = store.client.simulate_post("/assets", json=document)
    assert created.status_code == 201, created.text
    assert not (folders / "made-up").exists()
    assert "made-up" not in store.services.blobs._stores


def test_bucket_blobs_url_is_refused_while_the_blob_store_holds_a_buckets_files(
    make_store: Any, site: tuple[Path, str], tmp_path: Path
) -> None:
    root, url = site
    (root / "f.txt").write_bytes(b"f")
    store = make_store()
    store.put("/sources/prefixed", {"url": f"{url}/f.txt", "asset": ASSET})
    store.settle()
    assert store.source("prefixed")["status"]["reason"] == "uploaded"
    data_dir = store.services.settings.data_dir
    with pytest.raises(ConfigurationError, match="still holds files of the bucket 'default'"):
        check_setup(load_settings(data_dir=data_dir, bucket_blobs_url=f"file://{tmp_path}/own/{{bucket}}"))
