"""``assets-registry assets …``, ``status`` and ``wait`` against a real ``serve``: every asset
operation from a shell, with ``--json``, and distinct exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from assets_registry.apps.cli import main
from assets_registry.testing import bundle_asset, write_bundle
from tests.seed import SEED_ASSET
from tests.served import served_registry
from tests.servers import free_port


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_registry(tmp_path_factory.mktemp("cli-assets")) as (served,):
        yield served


def test_every_asset_operation(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    document = tmp_path / "asset.json"
    document.write_text(json.dumps(SEED_ASSET))
    assert main(["assets", "create", f"@{document}", "--url", url]) == 0
    assert capsys.readouterr().out.strip() == "asset-001"
    assert main(["assets", "get", "asset-001", "--url", url]) == 0
    assert json.loads(capsys.readouterr().out)["asset_uri"] == SEED_ASSET["asset_uri"]
    assert main(["assets", "list", "--type", "model", "--url", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["ASSET_ID\tVERSION\tTYPE\tSUB_TYPE", "asset-001\tv1\tmodel\tllm"]
    assert main(["assets", "search", '{"asset_version": "v1"}', "--json", "--url", url]) == 0
    assert [json.loads(line)["asset_id"] for line in capsys.readouterr().out.splitlines()] == ["asset-001"]
    assert main(["assets", "update", "asset-001", '{"asset_version": "v2"}', "--url", url]) == 0
    assert json.loads(capsys.readouterr().out)["asset_version"] == "v2"
    assert main(["assets", "update", "asset-001", '{"asset_version": "v3"}', "--if-match", '"1"', "--url", url]) == 1
    assert "changed by someone else" in capsys.readouterr().err
    assert main(["assets", "delete", "asset-001", "--url", url]) == 0
    assert capsys.readouterr().out.strip() == "asset/asset-001 deleted"
    assert main(["assets", "get", "asset-001", "--url", url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "asset-001" in err


def test_status_and_wait(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "b.zip"
    write_bundle(bundle, bundle_asset("waited"), {"a.txt": b"a"})
    assert main(["upload", str(bundle), "--quiet", "--url", url]) == 0
    upload_id = capsys.readouterr().out.strip()
    assert main(["wait", upload_id, "--url", url]) == 0
    assert capsys.readouterr().out.strip() == "waited"
    assert main(["status", upload_id, "--url", url]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "success"
    assert main(["status", "nope", "--url", url]) == 1


def test_exit_codes_say_whose_fault(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assets", "get", "x", "--url", f"127.0.0.1:{free_port()}"]) == 3
    assert "cannot reach" in capsys.readouterr().err
    assert main(["assets", "create", "{not json", "--url", url]) == 2
    assert main(["assets", "create", '{"asset_id": "bad"}', "--url", url]) == 1
    assert "invalid" in capsys.readouterr().err
