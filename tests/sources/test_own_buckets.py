"""``bucket_blobs_url``: each registry bucket in its own S3 bucket (SeaweedFS) or Swift container
(Ceph's radosgw), made, checked, remade when deleted behind the registry's back, and emptied."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from assets_registry.apps.container import Services, build_container
from assets_registry.apps.settings import load_settings
from assets_registry.testing import assert_problem, bundle_asset, bundle_zip, upload_form
from tests.sources.kit import ASSET, FILES, Store, tarball

pytestmark = pytest.mark.real_servers


@dataclass
class Backend:
    """Where the registry buckets go, and a look at them that bypasses the registry."""

    main_url: str
    template: str
    base: str
    keys: Any  # (store name) -> list of object keys
    destroy: Any  # (store name) -> None: delete it, objects and all


def _s3(request: pytest.FixtureRequest) -> Backend:
    from tests.servers.seaweedfs import empty_and_delete_bucket

    server = request.getfixturevalue("s3_server")
    client = server.client()
    base = f"t-{uuid.uuid4().hex[:12]}"

    def keys(name: str) -> list[str]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=name)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    return Backend(
        server.blobs_url(base, create_bucket="true"),
        server.blobs_url(base + "-{bucket}", create_bucket="true"),
        base,
        keys,
        lambda name: empty_and_delete_bucket(client, name),
    )


def _ceph(request: pytest.FixtureRequest) -> Backend:
    import swiftclient

    server = request.getfixturevalue("ceph_server")
    connection = swiftclient.Connection(authurl=server.auth_url, user=server.user, key=server.key)
    base = f"t-{uuid.uuid4().hex[:12]}"

    def keys(name: str) -> list[str]:
        return sorted(o["name"] for o in connection.get_container(name, full_listing=True)[1])

    def destroy(name: str) -> None:
        for container in (name, name + "_segments"):
            for listed in connection.get_container(container, full_listing=True)[1]:
                connection.delete_object(container, listed["name"])
            connection.delete_container(container)

    return Backend(server.blobs_url(base), server.blobs_url(base + "-{bucket}"), base, keys, destroy)


@pytest.fixture(params=["s3", "ceph"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return _s3(request) if request.param == "s3" else _ceph(request)


@pytest.fixture
def open_services(backend: Backend, tmp_path: Path) -> Iterator[Any]:
    built: list[Services] = []

    def make() -> Services:
        settings = load_settings(
            data_dir=tmp_path / "var",
            blobs_url=backend.main_url,
            bucket_blobs_url=backend.template,
            sources_allow_private_networks=True,
            source_check_seconds=1,
            job_threads=0,
            source_threads=0,
        )
        built.append(build_container(settings).services())
        return built[-1]

    yield make
    for services in built:
        services.close()


def _settle(store: Store) -> None:
    store.settle()
    while store.services.bundles.run_next("t") is not None:
        pass


def test_each_bucket_is_a_store_of_its_own(backend: Backend, open_services: Any, site: tuple[Path, str]) -> None:
    root, url = site
    (root / "model.tgz").write_bytes(tarball(FILES))
    store = Store(open_services())
    own = f"{backend.base}-models"
    made = store.put("/buckets/models", {"policy": "readonly"})
    assert made.status_code == 201 and made.json["status"]["phase"] == "Ready", made.json
    assert backend.keys(own) == ["assets/b.models/.bucket"]
    assert own in made.json["url"], made.json["url"]

    spec = {"url": f"{url}/model.tgz", "mode": "package", "bucket": "models", "filter": "^docs/", "asset": ASSET}
    store.put("/sources/own", spec)
    body, headers = upload_form(bundle_zip(bundle_asset("own-upload"), {"a.txt": b"a"}))
    assert (
        store.client.simulate_post("/zip/upload", body=body, headers=headers, params={"bucket": "models"}).status_code
        == 202
    )
    _settle(store)
    assert store.source("own")["status"]["reason"] == "uploaded", store.source("own")["status"]
    want = {"docs/readme.md": FILES["docs/readme.md"], "docs/card.md": FILES["docs/card.md"]}
    assert store.download("own") == want
    assert store.download("own-upload") == {"a.txt": b"a"}
    stored = backend.keys(own)
    assert len([k for k in stored if k.endswith((".md", "a.txt"))]) == 3, stored
    assert not [k for k in backend.keys(backend.base) if k.startswith("assets/b.models/")]

    # Another process (nothing opened yet) maps every file URL back and sweeps no file away.
    other = open_services()
    report = other.janitor.sweep(dry_run=True, grace_seconds=0)
    assert not [o.blob.key for o in report.orphans if o.blob.key.startswith("assets/")], report.orphans
    assert Store(other).download("own") == want

    # The bucket deleted behind the registry's back: the check makes it again, the drift check refills it.
    backend.destroy(own)
    store.services.asset_store.check_buckets(0)
    bucket = store.client.simulate_get("/buckets/models").json
    assert (bucket["status"]["phase"], bucket["status"]["reason"]) == ("Ready", "bucket_recreated"), bucket
    time.sleep(1.1)  # the source is due for its drift check
    store.settle()
    assert store.source("own")["status"]["reason"] == "uploaded"
    assert store.download("own") == want

    # Deleting it takes force (an uploaded asset is in it), then leaves nothing of it.
    assert_problem(store.client.simulate_delete("/buckets/models"), 409, "bucket_not_empty")
    assert store.client.simulate_delete("/buckets/models", params={"force": "true"}).status_code == 204
    assert backend.keys(own) == []
    assert_problem(store.client.simulate_get("/query/by-id/own-upload"), 404, "asset_not_found")
