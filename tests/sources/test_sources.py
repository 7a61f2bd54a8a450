"""The Asset Store of seed 000 end to end on the embedded default: buckets, sources fetched from a
loopback HTTP server, packages unpacked and filtered, phases and reasons, drift repaired."""

from __future__ import annotations

import gzip
import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from assets_registry.testing import assert_problem
from tests.sources.kit import ASSET, FILES, bomb, tarball


@pytest.mark.parametrize("compression", ["gz", "bz2", "xz", ""])
def test_a_package_source_with_a_filter_becomes_ready_with_exactly_the_filtered_files(
    site: tuple[Path, str], make_store: Any, compression: str
) -> None:
    root, url = site
    (root / "model.pkg").write_bytes(tarball(FILES, compression))
    store = make_store()
    spec = {"url": f"{url}/model.pkg", "mode": "package", "filter": r"^(docs/|weights/)", "asset": ASSET}
    assert store.put("/sources/pkg-model", spec).status_code == 201
    assert store.source("pkg-model")["status"]["phase"] == "Pending"
    store.settle()
    source = store.source("pkg-model")
    assert (source["status"]["phase"], source["status"]["reason"]) == ("Ready", "uploaded"), source
    assert source["status"]["observed_generation"] == 1
    assert sorted(f["name"] for f in source["status"]["files"]) == [
        "docs/card.md",
        "docs/readme.md",
        "weights/model.bin",
    ]
    expected = {k: v for k, v in FILES.items() if not k.startswith("scripts/")}
    assert store.download("pkg-model") == expected
    document = store.client.simulate_get("/query/by-id/pkg-model").json
    assert document["profiles"][0]["asset_type"] == "model"
    card = next(f for f in document["files"] if f["asset_file_id"] == "docs/card.md")
    assert card["asset_file_metadata"]["front_matter"] == {"title": "Card"}


def test_a_zstd_tar_and_a_zip_package_are_recognised_by_their_bytes(site: tuple[Path, str], make_store: Any) -> None:
    import zstandard

    root, url = site
    (root / "a.bin").write_bytes(zstandard.ZstdCompressor().compress(tarball({"a.txt": b"A"}, "")))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("asset.json", json.dumps({"asset_id": "zip-pkg", **ASSET}))
        archive.writestr("b.txt", b"B")
    (root / "b.bin").write_bytes(buffer.getvalue())
    store = make_store()
    store.put("/sources/zst-pkg", {"url": f"{url}/a.bin", "mode": "package", "asset": ASSET})
    store.put("/sources/zip-pkg", {"url": f"{url}/b.bin", "mode": "package"})
    store.settle()
    assert store.source("zst-pkg")["status"]["reason"] == "uploaded", store.source("zst-pkg")
    assert store.source("zip-pkg")["status"]["reason"] == "uploaded", store.source("zip-pkg")
    assert store.download("zst-pkg") == {"a.txt": b"A"}
    assert store.download("zip-pkg") == {"b.txt": b"B"}


def test_a_single_file_and_an_index_source(site: tuple[Path, str], make_store: Any) -> None:
    root, url = site
    (root / "config.yaml").write_bytes(b"a: 1\n")
    (root / "files").mkdir()
    (root / "files" / "one.txt").write_bytes(b"one")
    (root / "elsewhere.txt").write_bytes(b"two")
    index = [
        {"name": "one.txt", "metadata": {"lang": "en"}},
        {"name": "sub/two.txt", "url": "../elsewhere.txt"},
    ]
    (root / "files" / "index.json").write_text(json.dumps(index))
    store = make_store()
    store.put("/sources/single", {"url": f"{url}/config.yaml", "asset": ASSET})
    store.put("/sources/indexed", {"url": f"{url}/files/index.json", "mode": "index", "asset": ASSET})
    store.settle()
    assert store.source("single")["status"]["reason"] == "uploaded", store.source("single")["status"]["message"]
    assert store.download("single") == {"config.yaml": b"a: 1\n"}
    assert store.source("indexed")["status"]["reason"] == "uploaded", store.source("indexed")
    assert store.download("indexed") == {"one.txt": b"one", "sub/two.txt": b"two"}
    document = store.client.simulate_get("/query/by-id/indexed").json
    one = next(f for f in document["files"] if f["asset_file_id"] == "one.txt")
    assert one["asset_file_metadata"]["lang"] == "en"


def test_a_source_waits_for_its_bucket_and_proceeds_once_it_is_made(site: tuple[Path, str], make_store: Any) -> None:
    root, url = site
    (root / "f.txt").write_bytes(b"f")
    store = make_store()
    store.put("/sources/waiting", {"url": f"{url}/f.txt", "bucket": "later", "asset": ASSET})
    store.settle()
    status = store.source("waiting")["status"]
    assert (status["phase"], status["reason"]) == ("Pending", "bucket_not_ready")
    made = store.put("/buckets/later", {"policy": "readonly"})
    assert made.status_code == 201
    assert made.json["status"]["phase"] == "Ready" and made.json["policy"] == "readonly"
    store.settle()
    assert store.source("waiting")["status"]["reason"] == "uploaded"
    assert store.put("/buckets/later", {"policy": "readonly"}).status_code == 200


def test_a_file_deleted_behind_the_registrys_back_comes_back(site: tuple[Path, str], make_store: Any) -> None:
    root, url = site
    (root / "f.txt").write_bytes(b"precious")
    store = make_store(source_check_seconds=1)
    store.put("/sources/drift", {"url": f"{url}/f.txt", "asset": ASSET})
    store.settle()
    blobs = store.services.blobs
    document = store.services.registry.get("drift").document
    key = blobs.key_for_url(document["files"][0]["asset_file_url"])
    assert key is not None
    blobs.delete(key)
    time.sleep(1.1)
    store.settle()
    assert store.source("drift")["status"]["reason"] == "uploaded"
    assert store.download("drift") == {"f.txt": b"precious"}


@pytest.mark.parametrize(
    ("name", "content", "reason", "said"),
    [
        ("escape.tgz", lambda: tarball({"../x": b"x"}), "package_invalid", "member ../x escapes the archive"),
        ("link.tgz", lambda: tarball({"a": b"a"}, links={"evil": "/etc/passwd"}), "package_invalid",
         "member evil is a symbolic link"),
        ("bomb.tgz", bomb, "package_invalid", "expands more than"),
        ("plain.txt", lambda: b"not an archive", "package_invalid", "is not a ZIP or TAR archive"),
    ],
)  # fmt: skip
def test_hostile_packages_end_failed_with_their_reason(
    site: tuple[Path, str], make_store: Any, name: str, content: Any, reason: str, said: str
) -> None:
    root, url = site
    (root / name).write_bytes(content())
    store = make_store()
    store.put("/sources/hostile", {"url": f"{url}/{name}", "mode": "package", "asset": ASSET})
    store.settle()
    status = store.source("hostile")["status"]
    assert (status["phase"], status["reason"]) == ("Failed", reason), status
    assert said in status["message"]
    assert_problem(store.client.simulate_get("/query/by-id/hostile"), 404, "asset_not_found")
    assert not [b.key for b in store.services.blobs.listing("assets/") if not b.key.endswith("/.bucket")]


def test_an_unreachable_url_fails_pulling_failed_and_is_retried_later(make_store: Any) -> None:
    store = make_store()
    store.put("/sources/gone", {"url": "http://127.0.0.1:9/nothing", "asset": ASSET})
    store.settle()
    status = store.source("gone")["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "pulling_failed"), status
    record = store.services.asset_store.catalog.get("sources", "gone").document
    assert record["due"] is not None and record["due"] > time.time() + 20


def test_a_loopback_url_is_refused_without_the_setting(site: tuple[Path, str], make_store: Any) -> None:
    root, url = site
    (root / "f.txt").write_bytes(b"f")
    store = make_store(sources_allow_private_networks=False)
    store.put("/sources/ssrf", {"url": f"{url}/f.txt", "asset": ASSET})
    store.settle()
    status = store.source("ssrf")["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "url_refused"), status
    assert "loopback" in status["message"]


def test_the_declarations_over_http(site: tuple[Path, str], make_store: Any) -> None:
    root, url = site
    (root / "f.txt").write_bytes(b"f")
    (root / "g.txt").write_bytes(b"g")
    store = make_store()
    spec = {"url": f"{url}/f.txt", "bucket": "models", "asset": ASSET}
    assert store.put("/buckets/models", {}).status_code == 201
    assert store.put("/sources/decl", spec).status_code == 201
    assert store.put("/sources/decl", spec).json["generation"] == 1
    store.settle()
    changed = store.put("/sources/decl", {**spec, "url": f"{url}/g.txt"})
    assert (changed.status_code, changed.json["generation"]) == (200, 2)
    store.settle()
    assert store.download("decl") == {"g.txt": b"g"}
    assert [s["asset_id"] for s in store.client.simulate_get("/sources", params={"bucket": "models"}).json] == ["decl"]
    assert {b["name"] for b in store.client.simulate_get("/buckets").json} == {"default", "models"}
    assert_problem(store.client.simulate_delete("/buckets/models"), 409, "bucket_not_empty")
    assert store.client.simulate_delete("/buckets/models", params={"force": "true"}).status_code == 204
    assert_problem(store.client.simulate_get("/sources/decl"), 404, "source_not_found")
    assert_problem(store.client.simulate_get("/query/by-id/decl"), 404, "asset_not_found")
    store.services.janitor.drain()
    assert not [b.key for b in store.services.blobs.listing("assets/b.models/")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://x/y"}, "url"),
        ({"url": "http://x/y", "mode": "tree"}, "mode"),
        ({"url": "http://x/y", "filter": "(open"}, "filter"),
        ({"url": "http://x/y", "asset": {"files": []}}, "asset.files"),
        ({"url": "http://x/y", "bucket": "Bad_Name"}, "bucket"),
        ({"url": "http://x/y", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_source_spec_is_refused_naming_the_field(make_store: Any, body: dict[str, Any], field: str) -> None:
    store = make_store()
    problem = assert_problem(store.put("/sources/bad", body), 400, "invalid_input")
    assert field in json.dumps(problem), problem


def test_a_source_naming_an_unknown_service_is_refused(make_store: Any) -> None:
    store = make_store()
    assert_problem(store.put("/sources/svc", {"url": "http://x/y", "services": ["nope"]}), 400, "unknown_service")


def test_upload_status_carries_a_reason(make_store: Any) -> None:
    from assets_registry.testing import bundle_asset, bundle_zip, upload_form

    store = make_store()
    body, headers = upload_form(bundle_zip(bundle_asset("with-reason"), {"a.txt": b"a"}))
    upload = store.client.simulate_post("/zip/upload", body=body, headers=headers).json
    assert store.client.simulate_get(f"/zip/status/{upload['upload_id']}").json["reason"] == "scheduled"
    while store.services.bundles.run_next("t") is not None:
        pass
    answer = store.client.simulate_get(f"/zip/status/{upload['upload_id']}").json
    assert (answer["status"], answer["reason"]) == ("success", "uploaded")


def test_gzip_is_not_mistaken_for_a_single_file(site: tuple[Path, str], make_store: Any) -> None:
    """A single-file source keeps the bytes as they are, compressed or not."""
    root, url = site
    (root / "data.gz").write_bytes(gzip.compress(b"rows"))
    store = make_store()
    store.put("/sources/gz", {"url": f"{url}/data.gz", "asset": ASSET})
    store.settle()
    assert store.download("gz") == {"data.gz": (root / "data.gz").read_bytes()}


def test_a_claimed_source_is_nobody_elses_until_its_lease_runs_out(site: tuple[Path, str], make_store: Any) -> None:
    """A worker killed mid-import (it claimed and never came back) leaves the source to the next claim."""
    root, url = site
    (root / "f.txt").write_bytes(b"f")
    store = make_store()
    store.put("/sources/leased", {"url": f"{url}/f.txt", "asset": ASSET})
    asset_store = store.services.asset_store
    assert asset_store.claim("killed", 0.5) is not None
    assert asset_store.claim("other", 0.5) is None, "two workers never hold one source"
    assert store.services.imports.run_next("other") is None
    time.sleep(0.6)
    assert store.services.imports.run_next("other") is not None
    assert store.source("leased")["status"]["reason"] == "uploaded"


def test_a_spec_changed_during_an_import_is_imported_again(site: tuple[Path, str], make_store: Any) -> None:
    root, url = site
    (root / "f.txt").write_bytes(b"f")
    (root / "g.txt").write_bytes(b"g")
    store = make_store()
    store.put("/sources/moving", {"url": f"{url}/f.txt", "asset": ASSET})
    record = store.services.asset_store.claim("w", 30)
    assert record is not None
    store.put("/sources/moving", {"url": f"{url}/g.txt", "asset": ASSET})  # generation 2, while w holds it
    store.services.imports.run(record, "w")
    assert store.source("moving")["status"]["phase"] == "Pending", "generation 1's outcome is not generation 2's"
    store.settle()
    source = store.source("moving")
    assert (source["status"]["reason"], source["status"]["observed_generation"]) == ("uploaded", 2)
    assert store.download("moving") == {"g.txt": b"g"}
