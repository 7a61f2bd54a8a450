"""The audit trail and the revision history over HTTP, GraphQL and the CLI, on the embedded default."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assets_registry.apps.cli import main
from assets_registry.apps.container import build_container
from assets_registry.apps.settings import load_settings
from assets_registry.testing import assert_problem, bundle_asset
from tests.http.guarded import Guarded


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Guarded]:
    services = build_container(load_settings(data_dir=tmp_path / "var", auth="tokens")).services()
    try:
        yield Guarded(services)
    finally:
        services.close()


def _audit(guarded: Guarded, **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    result = guarded.call("GET", f"/audit?{query}", guarded.admin)
    assert result.status_code == 200, result.text
    changes: list[dict[str, Any]] = result.json
    return changes


def test_every_asset_write_is_recorded_with_its_token_and_request(guarded: Guarded) -> None:
    writer = guarded.token("writer", "write")
    asset = bundle_asset("audited")
    created = guarded.call("POST", "/assets", writer, json=asset, headers={"X-Request-ID": "req-create-1"})
    assert created.status_code == 201 and created.headers["X-Request-ID"] == "req-create-1"
    guarded.call("PUT", "/assets/audited", writer, json={"asset_version": "v2"})
    guarded.call("DELETE", "/assets/audited", writer)
    guarded.call("POST", "/assets", writer, json={**asset, "asset_version": "v3"})
    changes = _audit(guarded, asset_id="audited")
    assert [(c["action"], c["actor"], c["revision_before"], c["revision_after"]) for c in changes] == [
        ("asset.created", "writer", None, 1),
        ("asset.updated", "writer", 1, 2),
        ("asset.deleted", "writer", 2, None),
        ("asset.created", "writer", None, 1),
    ]
    assert changes[0]["request_id"] == "req-create-1" and changes[0]["bucket"] == "default"
    assert changes[0]["client"], "the client address is kept"
    assert len({c["request_id"] for c in changes}) == 4, "each request has its own id"
    assert [c["asset_id"] for c in _audit(guarded, actor="writer")] == ["audited"] * 4
    assert _audit(guarded, actor="nobody") == []
    assert _audit(guarded, since=str(changes[-1]["at"] + 1)) == []
    assert len(_audit(guarded, until="2999-01-01T00:00:00Z", asset_id="audited")) == 4
    assert_problem(guarded.call("GET", "/audit?since=yesterday", guarded.admin), 400, "invalid_input")
    assert_problem(guarded.call("GET", "/audit", writer), 403, "forbidden")
    for method in ("POST", "PUT", "DELETE"):
        assert guarded.call(method, "/audit", guarded.admin).status_code == 405, "append-only"


def test_the_audit_pages(guarded: Guarded) -> None:
    for n in range(5):
        guarded.call("POST", "/assets", guarded.admin, json=bundle_asset(f"paged-{n}"))
    first = guarded.call("GET", "/audit?limit=2&asset_id=paged-0", guarded.admin)
    assert len(first.json) == 1 and "X-Next-Cursor" not in first.headers
    page = guarded.call("GET", "/audit?limit=3", guarded.admin)
    assert len(page.json) == 3 and page.headers["X-Next-Cursor"]
    rest = guarded.call("GET", f"/audit?limit=100&cursor={page.headers['X-Next-Cursor']}", guarded.admin).json
    assert [c["id"] for c in page.json + rest] == sorted((c["id"] for c in page.json + rest), key=int)


def test_uploads_buckets_sources_tokens_and_freed_blobs_are_recorded(guarded: Guarded) -> None:
    writer = guarded.token("uploader", "write")
    guarded.call("PUT", "/buckets/audited", writer, json={"policy": "none"})
    guarded.upload(writer, "zipped", "audited")
    guarded.run_jobs()
    guarded.upload(writer, "zipped", "audited")  # the same id again: refused, but recorded
    guarded.run_jobs()
    guarded.call("PUT", "/sources/declared", writer, json={"url": "http://example.com/f", "bucket": "audited"})
    guarded.call("DELETE", "/sources/declared", writer)
    guarded.call("PUT", "/assets/zipped", writer, json={"asset_version": "v2"})
    guarded.call("DELETE", "/assets/zipped", writer)
    guarded.services.janitor.drain()
    guarded.services.tokens.revoke("uploader")
    seen = [(c["action"], c["actor"], c.get("asset_id"), c.get("bucket")) for c in _audit(guarded)]
    assert ("token.created", "system", None, None) in seen
    assert ("bucket.put", "uploader", None, "audited") in seen
    assert ("upload.accepted", "uploader", None, "audited") in seen
    assert ("asset.created", "uploader", "zipped", "audited") in seen, "the worker's write is the uploader's"
    assert seen.count(("upload.ended", "uploader", "zipped", "audited")) == 2
    assert ("source.put", "uploader", "declared", "audited") in seen
    assert ("source.deleted", "uploader", "declared", "audited") in seen
    assert ("blobs.freed", "system", "zipped", None) in seen
    assert ("token.revoked", "system", None, None) in seen
    ended = [c for c in _audit(guarded) if c["action"] == "upload.ended"]
    assert [c["detail"]["status"].split(":")[0] for c in ended] == ["success", "failed"]


def test_earlier_revisions_read_back_also_after_a_delete(guarded: Guarded) -> None:
    asset = bundle_asset("revised")
    guarded.call("POST", "/assets", guarded.admin, json=asset)
    guarded.call("PUT", "/assets/revised", guarded.admin, json={"asset_version": "v2"})
    guarded.call("DELETE", "/assets/revised", guarded.admin)
    guarded.call("POST", "/assets", guarded.admin, json={**asset, "asset_version": "v3"})
    reader = guarded.token("reader", "read")
    listed = guarded.call("GET", "/assets/revised/revisions", reader).json
    assert [(r["n"], r["revision"], r["actor"]) for r in listed] == [(1, 1, "root"), (2, 2, "root"), (3, 1, "root")]
    assert guarded.call("GET", "/assets/revised/revisions/1", reader).json["document"]["asset_version"] == "v1"
    assert guarded.call("GET", "/assets/revised/revisions/2", reader).json["document"]["asset_version"] == "v2"
    assert_problem(guarded.call("GET", "/assets/revised/revisions/9", reader), 404, "revision_not_found")
    assert_problem(guarded.call("GET", "/assets/revised/revisions/x", reader), 400, "invalid_input")
    page = guarded.call("GET", "/assets/revised/revisions?limit=2", reader)
    assert [r["n"] for r in page.json] == [1, 2]
    more = guarded.call("GET", f"/assets/revised/revisions?cursor={page.headers['X-Next-Cursor']}", reader).json
    assert [r["n"] for r in more] == [3]
    query = '{ assetRevisions(assetId: "revised", limit: 2) { items { n revision actor document } nextCursor } }'
    data = guarded.call("POST", "/graphql", reader, json={"query": query}).json["data"]["assetRevisions"]
    assert [(r["n"], r["document"]["asset_version"]) for r in data["items"]] == [(1, "v1"), (2, "v2")]
    assert data["nextCursor"]


def test_a_bucket_limited_token_reads_no_revision_of_another_bucket(guarded: Guarded) -> None:
    guarded.call("PUT", "/buckets/team-a", guarded.admin, json={})
    guarded.call("POST", "/assets", guarded.admin, json=bundle_asset("in-default"))
    limited = guarded.token("team-a-reader", "read", "team-a")
    assert guarded.call("GET", "/assets/in-default/revisions", limited).json == []
    assert_problem(guarded.call("GET", "/assets/in-default/revisions/1", limited), 404, "revision_not_found")
    query = '{ assetRevisions(assetId: "in-default") { items { n } } }'
    assert (
        guarded.call("POST", "/graphql", limited, json={"query": query}).json["data"]["assetRevisions"]["items"] == []
    )


def test_revisions_are_kept_to_the_retention(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "var", auth="tokens", keep_revisions=2)
    services = build_container(settings).services()
    try:
        guarded = Guarded(services)
        guarded.call("POST", "/assets", guarded.admin, json=bundle_asset("kept"))
        for version in ("v2", "v3", "v4"):
            guarded.call("PUT", "/assets/kept", guarded.admin, json={"asset_version": version})
        assert [r["n"] for r in guarded.call("GET", "/assets/kept/revisions", guarded.admin).json] == [3, 4]
        assert len(_audit(guarded, asset_id="kept")) == 4, "the audit trail is never pruned"
    finally:
        services.close()


def test_on_sqlite_a_change_is_written_in_the_documents_transaction(
    embedded: Guarded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record that cannot be written undoes the write: no change without its record."""
    guarded = embedded
    from assets_registry.adapters.sqlite import metadata

    def broken(*_args: Any) -> None:
        raise RuntimeError("the history table is full")

    monkeypatch.setattr(metadata, "write_change", broken)
    result = guarded.call("POST", "/assets", guarded.admin, json=bundle_asset("unrecorded"))
    assert result.status_code == 500
    monkeypatch.undo()
    assert_problem(guarded.call("GET", "/query/by-id/unrecorded", guarded.admin), 404, "asset_not_found")
    assert _audit(guarded, asset_id="unrecorded") == []


def test_the_audit_command(embedded: Guarded, capsys: pytest.CaptureFixture[str]) -> None:
    guarded = embedded
    guarded.call("POST", "/assets", guarded.admin, json=bundle_asset("on-the-cli"))
    base = ["--data-dir", str(guarded.services.settings.data_dir)]
    assert main(["audit", "--asset-id", "on-the-cli", *base]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.split("\t")[1:6] == ["asset.created", "root", "on-the-cli", "default", "-->1"]
    assert main(["audit", "--actor", "root", "--since", "1h", "--json", *base]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["asset_id"] == "on-the-cli"
