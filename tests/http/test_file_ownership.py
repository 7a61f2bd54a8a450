"""A file URL into the registry's own blob store belongs to the asset whose upload wrote it.

Otherwise ``POST /assets`` could point a file at another asset's blob, and its ZIP download
would serve that asset's bytes. Run on each stack: each blob store has its own URLs.
"""

from __future__ import annotations

import copy
from typing import Any

from falcon import testing

from assets_registry.apps.container import Services
from assets_registry.testing import assert_problem, asset_document, bundle_zip, upload_bundle
from tests.stacks import run_jobs


def uploaded(client: testing.TestClient, services: Services, asset_id: str) -> dict[str, Any]:
    assert upload_bundle(client, bundle_zip(asset_id, {"weights.bin": asset_id.encode() * 100})).status_code == 202
    run_jobs(services)
    document: dict[str, Any] = services.registry.get(asset_id).document  # the stored blob URLs
    assert document["asset_id"] == asset_id, document
    return document


def pointing_at(asset_id: str, url: str) -> dict[str, Any]:
    document = asset_document(asset_id)
    document["asset_file_ids"] = ["weights.bin"]
    document["files"] = [
        {
            "asset_file_id": "weights.bin",
            "asset_file_type": "model",
            "asset_file_mime_type": "application/octet-stream",
            "asset_file_url": url,
        }
    ]
    return document


def test_a_new_asset_cannot_point_at_another_assets_blob(client: testing.TestClient, services: Services) -> None:
    victim = uploaded(client, services, "victim")
    url = victim["files"][0]["asset_file_url"]
    answer = client.simulate_post("/assets", json=pointing_at("thief", url))
    body = assert_problem(answer, 400, "foreign_blob")
    assert body["errors"][0]["path"] == "files[0].asset_file_url"
    assert client.simulate_get("/query/by-id/thief").status_code == 404


def test_an_update_cannot_point_a_file_at_another_assets_blob(client: testing.TestClient, services: Services) -> None:
    victim = uploaded(client, services, "victim")
    thief = uploaded(client, services, "thief")
    files = copy.deepcopy(thief["files"])
    files[0]["asset_file_url"] = victim["files"][0]["asset_file_url"]
    assert_problem(client.simulate_put("/assets/thief", json={"files": files}), 400, "foreign_blob")
    download = client.simulate_get("/zip/download/thief")
    assert download.status_code == 200
    assert b"thief" * 100 in download.content and b"victim" * 100 not in download.content


def test_an_asset_keeps_its_own_blobs_and_may_point_outside_the_store(
    client: testing.TestClient, services: Services
) -> None:
    own = uploaded(client, services, "owner")
    files = copy.deepcopy(own["files"])
    assert client.simulate_put("/assets/owner", json={"files": files, "asset_version": "v2"}).status_code == 200
    outside = pointing_at("linked", "https://example.com/models/weights.bin")
    assert client.simulate_post("/assets", json=outside).status_code == 201


def test_a_url_to_a_blob_of_the_store_no_asset_owns_is_refused(client: testing.TestClient, services: Services) -> None:
    own = uploaded(client, services, "owner")
    url = own["files"][0]["asset_file_url"]
    staged = url[: url.index("assets/")] + "staging/some-upload.zip"
    body = assert_problem(client.simulate_post("/assets", json=pointing_at("stray", staged)), 400, "foreign_blob")
    assert "staging/some-upload.zip" in body["errors"][0]["message"]
