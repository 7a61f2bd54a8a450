"""The Asset Store on MongoDB + S3 + Redis: the stack's separate ``assets-registry worker``
processes claim and import the sources; this process only declares them (catalog on MongoDB,
files on S3) and looks at what the workers did."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assets_registry.apps.container import build_container
from assets_registry.apps.settings import load_settings
from assets_registry.testing import assert_problem
from tests.served import registry_process
from tests.servers import free_port
from tests.sources.kit import ASSET, FILES, Store, bomb, tarball, wait_for

pytestmark = pytest.mark.real_servers


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Any:
    stack = request.getfixturevalue("real_stack")
    stack.reset()
    return stack


@pytest.fixture
def store(stack: Any, tmp_path: Path) -> Iterator[Store]:
    settings = load_settings(
        data_dir=tmp_path / "var", job_threads=0, source_threads=0, sources_allow_private_networks=True, **stack.urls
    )
    services = build_container(settings).services()
    try:
        yield Store(services)
    finally:
        services.close()


def test_a_filtered_tar_gz_waits_for_its_bucket_then_is_imported_byte_for_byte(
    site: tuple[Path, str], stack: Any, store: Store
) -> None:
    root, url = site
    (root / "model.tgz").write_bytes(tarball(FILES))
    store.put("/sources/later-bucket", {"url": f"{url}/model.tgz", "mode": "package", "bucket": "stacked",
                                        "filter": r"^weights/", "asset": ASSET})  # fmt: skip
    assert wait_for(store, "later-bucket", "bucket_not_ready")["phase"] == "Pending"
    assert store.put("/buckets/stacked", {}).status_code == 201
    status = wait_for(store, "later-bucket", "uploaded")
    assert [f["name"] for f in status["files"]] == ["weights/model.bin"]
    assert store.download("later-bucket") == {"weights/model.bin": FILES["weights/model.bin"]}
    keys = stack.stored_keys("assets/b.stacked/")
    assert any(k.endswith("/weights/model.bin") for k in keys), keys


def test_a_single_file_and_an_index_source(site: tuple[Path, str], store: Store) -> None:
    root, url = site
    (root / "config.yaml").write_bytes(b"a: 1\n")
    (root / "files").mkdir()
    (root / "files" / "one.txt").write_bytes(b"one")
    (root / "two.txt").write_bytes(b"two")
    index = [{"name": "one.txt", "metadata": {"lang": "en"}}, {"name": "sub/two.txt", "url": "../two.txt"}]
    (root / "files" / "index.json").write_text(json.dumps(index))
    store.put("/sources/single", {"url": f"{url}/config.yaml", "asset": ASSET})
    store.put("/sources/indexed", {"url": f"{url}/files/index.json", "mode": "index", "asset": ASSET})
    wait_for(store, "single", "uploaded")
    wait_for(store, "indexed", "uploaded")
    assert store.download("single") == {"config.yaml": b"a: 1\n"}
    assert store.download("indexed") == {"one.txt": b"one", "sub/two.txt": b"two"}


def test_a_file_deleted_from_s3_behind_the_registrys_back_comes_back(
    site: tuple[Path, str], stack: Any, store: Store
) -> None:
    root, url = site
    (root / "f.txt").write_bytes(b"precious")
    store.put("/sources/drift", {"url": f"{url}/f.txt", "asset": ASSET})
    wait_for(store, "drift", "uploaded")
    (key,) = [k for k in stack.stored_keys("assets/b.default/") if k.endswith("/f.txt")]
    stack.s3.delete_object(Bucket=stack.bucket, Key=key)
    assert key not in stack.stored_keys("assets/b.default/")
    deadline = time.monotonic() + 60  # the workers re-check Ready sources every 2 s here
    while not any(k.endswith("/f.txt") for k in stack.stored_keys("assets/b.default/")):
        assert time.monotonic() < deadline, "the deleted file did not come back within 60 s"
        time.sleep(0.2)
    assert wait_for(store, "drift", "uploaded")["phase"] == "Ready"
    assert store.download("drift") == {"f.txt": b"precious"}


@pytest.mark.parametrize(
    ("name", "content", "reason", "said"),
    [
        ("escape.tgz", lambda: tarball({"../x": b"x"}), "package_invalid", "member ../x escapes the archive"),
        ("link.tgz", lambda: tarball({"a": b"a"}, links={"evil": "/etc/passwd"}), "package_invalid",
         "member evil is a symbolic link"),
        ("bomb.tgz", bomb, "package_invalid", "expands more than"),
        (None, None, "pulling_failed", "fetching"),
    ],
)  # fmt: skip
def test_hostile_or_unreachable_sources_end_failed_with_their_reason(
    site: tuple[Path, str], stack: Any, store: Store, name: str | None, content: Any, reason: str, said: str
) -> None:
    root, url = site
    if name is None:
        source_url = f"http://127.0.0.1:{free_port()}/gone.tgz"  # nothing listens there
    else:
        (root / name).write_bytes(content())
        source_url = f"{url}/{name}"
    store.put("/sources/hostile", {"url": source_url, "mode": "package", "asset": ASSET})
    status = wait_for(store, "hostile", reason)
    assert status["phase"] == "Failed" and said in status["message"], status
    assert_problem(store.client.simulate_get("/query/by-id/hostile"), 404, "asset_not_found")
    assert not [k for k in stack.stored_keys("assets/") if not k.endswith("/.bucket")]


def test_a_worker_without_the_setting_refuses_a_loopback_url(site: tuple[Path, str], stack: Any, store: Store) -> None:
    """The stack's workers allow private networks (the tests' sites are on loopback): they are
    paused while a worker of the default settings, on the same backends, takes the source."""
    root, url = site
    (root / "f.txt").write_bytes(b"f")
    environment = {**stack.environment, "ASSETS_SOURCES_ALLOW_PRIVATE_NETWORKS": "false"}
    with stack.workers_paused():
        store.put("/sources/ssrf", {"url": f"{url}/f.txt", "asset": ASSET})
        with registry_process(["worker", "--data-dir", str(root.parent / "strict"), "--threads", "1"], environment):
            status = wait_for(store, "ssrf", "url_refused")
    assert status["phase"] == "Failed" and "loopback" in status["message"], status
    assert_problem(store.client.simulate_get("/query/by-id/ssrf"), 404, "asset_not_found")


def test_an_upload_into_a_bucket_on_the_stack_holds_the_bucket_until_forced(stack: Any, store: Store) -> None:
    """The assets in a bucket are found by a ``$regex`` search on MongoDB; the stack's workers run the job."""
    from assets_registry.testing import bundle_asset, bundle_zip, upload_form

    assert store.put("/buckets/uploads", {}).status_code == 201
    body, headers = upload_form(bundle_zip(bundle_asset("stacked-upload"), {"w/a.bin": b"a" * 1000}))
    accepted = store.client.simulate_post("/zip/upload", body=body, headers=headers, params={"bucket": "uploads"})
    assert accepted.status_code == 202, accepted.text
    stack.wait_for_jobs()
    assert store.download("stacked-upload") == {"w/a.bin": b"a" * 1000}
    upload_id = accepted.json["upload_id"]
    assert f"assets/b.uploads/{upload_id}/w/a.bin" in stack.stored_keys("assets/b.uploads/")
    problem = assert_problem(store.client.simulate_delete("/buckets/uploads"), 409, "bucket_not_empty")
    assert "stacked-upload" in problem["detail"]
    assert store.client.simulate_delete("/buckets/uploads", params={"force": "true"}).status_code == 204
    assert_problem(store.client.simulate_get("/query/by-id/stacked-upload"), 404, "asset_not_found")
    assert stack.stored_keys("assets/b.uploads/") == []
