"""``assets-registry buckets …`` and ``sources apply|get|delete|wait`` against a real ``serve``."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assets_registry.apps.cli import main
from assets_registry.testing import bundle_asset, write_bundle
from tests.served import served_registry
from tests.sources.kit import ASSET, FILES, tarball


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = {"ASSETS_SOURCES_ALLOW_PRIVATE_NETWORKS": "true"}
    with served_registry(tmp_path_factory.mktemp("served"), settings=settings) as (url,):
        yield url


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_buckets_put_list_get_delete(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["buckets", "put", "cli-models", "--policy", "readonly", "--url", server]) == 0
    assert json.loads(_out(capsys))["policy"] == "readonly"
    assert main(["buckets", "put", "cli-models", "--policy", "readwrite", "--url", server]) == 0
    assert json.loads(_out(capsys))["policy"] == "readwrite"
    assert main(["buckets", "put", "cli-models", "--region", "eu", "--url", server]) == 0  # the policy is kept
    captured = capsys.readouterr()
    assert (json.loads(captured.out)["policy"], json.loads(captured.out)["region"]) == ("readwrite", "eu")
    assert captured.err.strip() == "bucket/cli-models configured"
    assert main(["buckets", "put", "cli-models", "--url", server]) == 0
    assert capsys.readouterr().err.strip() == "bucket/cli-models unchanged"
    assert main(["buckets", "list", "--url", server]) == 0
    lines = _out(capsys).splitlines()
    assert lines[0].split() == ["NAME", "PHASE", "REASON", "POLICY", "REGION"]
    assert ["cli-models", "Ready", "bucket_policy_updated", "readwrite", "eu"] in [line.split() for line in lines]
    assert main(["buckets", "list", "--json", "--url", server]) == 0
    assert "cli-models" in {b["name"] for b in json.loads(_out(capsys))}
    assert main(["buckets", "get", "cli-models", "--url", server]) == 0
    assert json.loads(_out(capsys))["status"]["phase"] == "Ready"
    assert main(["buckets", "delete", "cli-models", "--url", server]) == 0
    assert _out(capsys).strip() == "bucket/cli-models deleted"
    assert main(["buckets", "get", "cli-models", "--url", server]) == 1
    assert "cli-models" in capsys.readouterr().err


def test_sources_apply_wait_get_and_delete(
    server: str, site: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, url = site
    (root / "model.tgz").write_bytes(tarball(FILES))
    (root / "notes.txt").write_bytes(b"notes")
    spec = tmp_path / "sources.yaml"
    spec.write_text(
        f"""
asset_id: cli-package
bucket: cli-sources
url: {url}/model.tgz
mode: package
filter: ^docs/
asset: {json.dumps(ASSET)}
---
- asset_id: cli-single
  bucket: cli-sources
  url: {url}/notes.txt
  asset: {json.dumps(ASSET)}
"""
    )
    assert main(["sources", "apply", str(spec), "--url", server]) == 0
    assert _out(capsys).splitlines() == ["source/cli-package created", "source/cli-single created"]
    assert main(["sources", "get", "--url", server]) == 0
    rows = [line.split() for line in _out(capsys).splitlines()]
    assert rows[0] == ["ASSET_ID", "BUCKET", "MODE", "PHASE", "REASON", "GENERATION"]
    assert ["cli-package", "cli-sources", "package", "Pending"] in [row[:4] for row in rows]
    # wait gives up on a source whose bucket does not exist, naming why.
    assert main(["sources", "wait", "cli-package", "--timeout", "5", "--url", server]) == 1
    assert "bucket_not_ready" in capsys.readouterr().err
    assert main(["buckets", "put", "cli-sources", "--url", server]) == 0
    capsys.readouterr()
    assert main(["sources", "wait", "cli-package", "cli-single", "--timeout", "60", "--url", server]) == 0
    assert _out(capsys).splitlines() == ["source/cli-package Ready", "source/cli-single Ready"]
    with zipfile.ZipFile(_download(server, "cli-package")) as archive:
        assert sorted(n for n in archive.namelist() if n != "asset.json") == ["docs/card.md", "docs/readme.md"]

    # Applying what `get` prints changes nothing; a changed file reconfigures.
    assert main(["sources", "get", "cli-single", "--url", server]) == 0
    printed = json.loads(_out(capsys))
    again = tmp_path / "again.json"
    again.write_text(json.dumps(printed))
    assert main(["sources", "apply", str(again), "--url", server]) == 0
    assert _out(capsys).strip() == "source/cli-single unchanged"
    again.write_text(json.dumps({**printed, "filter": "^notes"}))
    assert main(["sources", "apply", str(again), "--url", server]) == 0
    assert _out(capsys).strip() == "source/cli-single configured"
    assert main(["sources", "wait", "cli-single", "--url", server]) == 0
    capsys.readouterr()

    assert main(["sources", "delete", "cli-package", "cli-nothing", "cli-single", "--url", server]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["source/cli-package deleted", "source/cli-single deleted"]
    assert "source/cli-nothing" in captured.err
    assert httpx.get(f"{server}/query/by-id/cli-package").status_code == 404


def test_sources_wait_fails_on_a_final_refusal(
    server: str, site: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, url = site
    (root / "evil.tgz").write_bytes(tarball({"../escape.txt": b"x"}))
    spec = tmp_path / "evil.json"
    spec.write_text(json.dumps({"asset_id": "cli-evil", "url": f"{url}/evil.tgz", "mode": "package", "asset": ASSET}))
    assert main(["sources", "apply", str(spec), "--url", server]) == 0
    capsys.readouterr()
    assert main(["sources", "wait", "cli-evil", "--timeout", "60", "--url", server]) == 1
    err = capsys.readouterr().err
    assert err.startswith("assets-registry: source/cli-evil Failed: package_invalid") and "../escape.txt" in err, err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("asset_id: [unclosed", "neither JSON nor YAML"),
        ("- url: http://example.com/x", "not a mapping with an asset_id"),
        ("", "declares no source"),
    ],
)
def test_sources_apply_refuses_a_file_it_cannot_read(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(content)
    assert main(["sources", "apply", str(spec), "--url", server]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_sources_apply_reports_a_refused_spec_and_applies_the_rest(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "mixed.json"
    good = {"asset_id": "cli-good", "url": "http://example.com/f.txt", "asset": ASSET}
    spec.write_text(json.dumps([{"asset_id": "cli-bad", "url": "ftp://nope/x"}, good]))
    assert main(["sources", "apply", str(spec), "--url", server]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == "source/cli-good created"
    assert "source/cli-bad" in captured.err and "url" in captured.err
    assert main(["sources", "delete", "cli-good", "--url", server]) == 0


def test_upload_into_a_bucket(server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["buckets", "put", "cli-uploads", "--url", server]) == 0
    bundle = tmp_path / "b.zip"
    write_bundle(bundle, bundle_asset("cli-in-bucket"), {"a.txt": b"a"})
    capsys.readouterr()
    args = ["upload", str(bundle), "--bucket", "cli-uploads", "--wait", "--quiet", "--url", server]
    assert main(args) == 0
    assert _out(capsys).split()[1] == "cli-in-bucket"
    document = httpx.get(f"{server}/query/by-id/cli-in-bucket").json()
    assert document["files"][0]["asset_file_url"] == f"{server}/assets/cli-in-bucket/files/a.txt"
    assert httpx.get(document["files"][0]["asset_file_url"]).content == b"a"
    refused = httpx.delete(f"{server}/buckets/cli-uploads")  # the bucket holds the asset
    assert (refused.status_code, refused.json()["code"]) == (409, "bucket_not_empty")
    assert main(["upload", str(bundle), "--bucket", "nowhere", "--quiet", "--url", server]) == 1
    assert "There is no bucket 'nowhere'" in capsys.readouterr().err


def _download(server: str, asset_id: str) -> Path:
    import io

    response = httpx.get(f"{server}/zip/download/{asset_id}")
    assert response.status_code == 200, response.text
    return io.BytesIO(response.content)  # type: ignore[return-value]
