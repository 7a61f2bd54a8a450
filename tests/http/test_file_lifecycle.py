"""Files leave with their asset, and the orphan sweep takes what a crash left behind; on each stack."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from falcon import testing

from assets_registry.apps.container import Services
from assets_registry.core.bundles.keys import staged_key
from assets_registry.testing import bundle_zip, upload_bundle
from tests.stacks import run_jobs

FILES = {"weights.bin": b"w" * 5000, "config/settings.json": b"{}"}


def uploaded(client: testing.TestClient, services: Services, asset_id: str) -> tuple[dict[str, Any], list[str]]:
    answer = upload_bundle(client, bundle_zip(asset_id, FILES))
    assert answer.status_code == 202
    run_jobs(services)
    document: dict[str, Any] = services.registry.get(asset_id).document  # the stored blob URLs
    keys = [services.blobs.key_for_url(f["asset_file_url"]) for f in document["files"]]
    assert None not in keys and services.blobs.missing(keys) == []  # type: ignore[arg-type]
    return document, keys  # type: ignore[return-value]


def test_deleting_an_asset_frees_every_blob_of_it(client: testing.TestClient, services: Services) -> None:
    _document, keys = uploaded(client, services, "leaving")
    assert client.simulate_delete("/assets/leaving").status_code == 200
    services.janitor.drain()
    assert services.blobs.missing(keys) == keys


def test_an_update_dropping_a_file_frees_its_blob_and_keeps_the_others(
    client: testing.TestClient, services: Services
) -> None:
    document, keys = uploaded(client, services, "slimmer")
    kept = [f for f in document["files"] if f["asset_file_id"] == "weights.bin"]
    answer = client.simulate_put("/assets/slimmer", json={"files": kept, "asset_file_ids": ["weights.bin"]})
    assert answer.status_code == 200, answer.text
    services.janitor.drain()
    dropped = services.blobs.key_for_url(
        next(f for f in document["files"] if f["asset_file_id"] != "weights.bin")["asset_file_url"]
    )
    assert services.blobs.missing(keys) == [dropped]
    assert client.simulate_get("/zip/download/slimmer").status_code == 200
    nothing = services.janitor.sweep(dry_run=True, grace_seconds=0)
    assert nothing.orphans == [], "what is left is referenced"


def test_the_sweep_finds_what_a_crash_left_and_spares_uploads_in_flight(
    client: testing.TestClient, services: Services
) -> None:
    _document, keys = uploaded(client, services, "crashed")
    services.registry.store.delete("crashed")  # as if the process died right after the metadata change
    ended = upload_bundle(client, bundle_zip("finished", FILES)).json["upload_id"]
    run_jobs(services)
    deadline = time.monotonic() + 20  # a worker records the ending, then deletes the staged archive
    while not services.blobs.missing([staged_key(ended)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    services.blobs.put(staged_key(ended), [b"left behind"])  # a worker killed before its clean-up
    in_flight = services.bundles.stage([bundle_zip("in-flight", FILES)])  # queued, no worker yet

    found = services.janitor.sweep(dry_run=True, grace_seconds=0)
    of_in_flight = f"staging/{in_flight.upload_id}."
    orphans = {o.blob.key: o.reason for o in found.orphans if not o.blob.key.startswith(of_in_flight)}
    assert orphans == {**dict.fromkeys(keys, "no asset points at it"), staged_key(ended): "its upload job has ended"}
    ran = services.jobs.get(in_flight.upload_id).finished  # the real stack's workers may have run it already
    assert found.deleted == 0 and (found.spared >= 1 or ran)
    assert ran or services.blobs.missing([staged_key(in_flight.upload_id)]) == []

    swept = services.janitor.sweep(grace_seconds=0)
    taken = {orphan.blob.key for orphan in swept.orphans}
    assert set(orphans) <= taken and swept.deleted == len(taken)
    # On the real stack its workers may have run the in-flight job meanwhile: its ended job's
    # staged archive is then taken too, and nothing else.
    late = taken - set(orphans)
    assert all(key.startswith(of_in_flight) for key in late), late
    assert not late or services.jobs.get(in_flight.upload_id).finished
    assert services.blobs.missing([*keys, staged_key(ended)]) == [*keys, staged_key(ended)]
    assert services.janitor.sweep(dry_run=True, grace_seconds=0).orphans == []
    assert services.janitor.sweep(dry_run=True).orphans == [], "within the default grace nothing is taken"


def test_workers_sweep_on_their_schedule(embedded_services: Services) -> None:
    from assets_registry.apps.workers import Sweeps
    from assets_registry.core.bundles.janitor import Janitor

    services = embedded_services
    services.blobs.put("assets/0ld/orphan.bin", [b"x"])
    janitor = Janitor(services.registry, services.blobs, services.jobs, grace_seconds=0)
    sweeps = Sweeps(janitor, interval=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while services.blobs.missing(["assets/0ld/orphan.bin"]) == [] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sweeps.stop()
    assert services.blobs.missing(["assets/0ld/orphan.bin"]) == ["assets/0ld/orphan.bin"]


def test_a_job_ending_during_a_sweep_keeps_its_files(embedded_services: Services) -> None:
    """Job states are read before references: a job that ends meanwhile has registered its asset by then."""
    services = embedded_services
    job = services.bundles.stage([bundle_zip("late", FILES)])
    janitor = services.janitor
    read_references = janitor._referenced

    def finish_the_job_first() -> Any:
        services.bundles.run_next("w")  # the asset registers and the job ends, mid-sweep
        return read_references()

    janitor._referenced = finish_the_job_first  # type: ignore[method-assign]
    found = janitor.sweep(grace_seconds=0)
    assert services.bundles.status(job.upload_id).status == "success"
    assert found.deleted == 0
    document = services.registry.get("late").document
    keys = [services.blobs.key_for_url(f["asset_file_url"]) for f in document["files"]]
    assert services.blobs.missing([k for k in keys if k]) == []


def test_a_blob_another_asset_still_points_at_is_not_freed(client: testing.TestClient, services: Services) -> None:
    """Registries from before foreign_blob may hold two assets sharing a blob."""
    document, keys = uploaded(client, services, "owner")
    sharer = {**document, "asset_id": "sharer", "asset_uri": "models://example.com/sharer"}
    services.registry.store.insert(sharer)  # as written before the rule existed
    assert client.simulate_delete("/assets/sharer").status_code == 200
    services.janitor.drain()
    assert services.blobs.missing(keys) == []


def test_the_sweep_refuses_when_no_file_url_maps_to_the_store(embedded_services: Services, tmp_path: Path) -> None:
    """A data dir moved elsewhere: every URL names the old root. Nothing is swept, and it says why."""
    from assets_registry.adapters.filesystem import FilesystemBlobStore
    from assets_registry.core.bundles.janitor import Janitor

    services = embedded_services
    client = testing.TestClient(__import__("assets_registry.apps.http", fromlist=["create_app"]).create_app(services))
    uploaded(client, services, "moved")
    elsewhere = FilesystemBlobStore(tmp_path / "moved-blobs")
    elsewhere.put("assets/some-upload/weights.bin", [b"w"])
    report = Janitor(services.registry, elsewhere, services.jobs, grace_seconds=0).sweep()
    assert report.refused is not None and "may have moved" in report.refused
    assert report.deleted == 0 and elsewhere.missing(["assets/some-upload/weights.bin"]) == []


TUS = {"Tus-Resumable": "1.0.0"}
STREAM = {**TUS, "Content-Type": "application/offset+octet-stream"}


def _staged_of(services: Services, upload_id: str) -> list[str]:
    return sorted(b.key for b in services.blobs.listing("staging/") if b.key.startswith(f"staging/{upload_id}."))


def _until_only_the_record(services: Services, upload_id: str) -> None:
    """A worker records a job's ending first, then cleans up: wait (bounded) for the clean-up."""
    deadline = time.monotonic() + 20
    while _staged_of(services, upload_id) != [f"staging/{upload_id}.tus.json"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _staged_of(services, upload_id) == [f"staging/{upload_id}.tus.json"]


def test_a_resumable_upload_is_kept_until_it_expires_and_its_parts_leave_with_its_job(
    client: testing.TestClient, services: Services
) -> None:
    created = client.simulate_post("/uploads", headers={**TUS, "Upload-Length": "100"})
    unfinished = created.headers["Location"].rsplit("/", 1)[1]
    appended = client.simulate_patch(f"/uploads/{unfinished}", body=b"x" * 10, headers={**STREAM, "Upload-Offset": "0"})
    assert appended.status_code == 204, appended.text
    bundle = bundle_zip("resumed-lifecycle", FILES)
    whole = client.simulate_post("/uploads", body=bundle, headers={**STREAM, "Upload-Length": str(len(bundle))})
    finished = whole.headers["Location"].rsplit("/", 1)[1]
    run_jobs(services)
    assert client.simulate_get(f"/zip/status/{finished}").json["status"] == "success"
    _until_only_the_record(services, finished)  # the parts went with the job
    record = b"".join(services.blobs.read(f"staging/{finished}.tus.json"))
    assert b'"complete":true' in record  # the record, not only the job tracker, knows it is whole
    assert len(_staged_of(services, unfinished)) == 2  # the record and the part of 10 bytes

    kept = services.janitor.sweep(grace_seconds=0)
    assert not [o for o in kept.orphans if o.blob.key.startswith("staging/")], "neither has expired"
    assert client.simulate_head(f"/uploads/{finished}", headers=TUS).headers["Upload-Offset"] == str(len(bundle))
    expired = {f"staging/{finished}.tus.json", *_staged_of(services, unfinished)}
    services.janitor.resumable_expiry_seconds = 0  # as if a day had passed
    swept = services.janitor.sweep(grace_seconds=0)
    assert {o.blob.key for o in swept.orphans} == expired and swept.deleted == 3
    assert _staged_of(services, unfinished) == _staged_of(services, finished) == []


def test_an_upload_whose_last_byte_landed_but_whose_job_was_never_queued_is_queued_when_asked(
    client: testing.TestClient, services: Services
) -> None:
    """The process that took the last byte stopped before queueing: the next HEAD queues it."""
    from assets_registry.core.bundles.keys import part_key

    bundle = bundle_zip("landed-late", FILES)
    created = client.simulate_post("/uploads", headers={**TUS, "Upload-Length": str(len(bundle))})
    upload_id = created.headers["Location"].rsplit("/", 1)[1]
    services.blobs.put(part_key(upload_id, 0, "short"), [bundle[:100]])  # a retry's broken-off twin
    services.blobs.put(part_key(upload_id, 0, "whole"), [bundle])  # as the stopped process wrote it
    head = client.simulate_head(f"/uploads/{upload_id}", headers=TUS)
    assert head.headers["Upload-Offset"] == str(len(bundle)) and 'rel="status"' in head.headers["Link"]
    run_jobs(services)
    assert client.simulate_get(f"/zip/status/{upload_id}").json["status"] == "success"
    assert services.registry.get("landed-late").asset_id == "landed-late"
    _until_only_the_record(services, upload_id)  # the unused twin went too
