"""The examples of ``docs/client.md`` and the README's command lines run as written against a
served registry (only the server's address and a bundle to upload are supplied)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from assets_registry.testing import bundle_asset, write_bundle
from tests.served import served_registry

ROOT = Path(__file__).parents[2]


def _blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(), re.S)


def test_the_python_client_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _blocks(ROOT / "docs" / "client.md", "python")
    assert len(blocks) >= 3
    with served_registry(tmp_path / "var") as (url,):
        assert httpx.put(f"{url}/buckets/models", json={}).status_code == 201
        document = bundle_asset("llama-tiny-v2")
        document["asset_file_ids"] = ["weights/model.safetensors"]
        write_bundle(tmp_path / "llama-tiny-v2.zip", document, {"weights/model.safetensors": b"\x00" * 4096})
        monkeypatch.chdir(tmp_path)
        session: dict[str, object] = {"__name__": "docs_example"}  # one reader's session, block after block
        for block in blocks:
            code = re.sub(r'"(127\.0\.0\.1:8080|http://registry\.internal:8080)"', repr(url), block)
            code = code.replace('token="areg_…"', "token=None")
            exec(compile(code, "docs/client.md", "exec"), session)
        assert (tmp_path / "copy.zip").stat().st_size > 4096
        assert (tmp_path / "model.safetensors").read_bytes() == b"\x00" * 4096
        assert httpx.get(f"{url}/query/by-id/llama-tiny").json()["asset_brief_description"] == "small"


def test_assets_list_json_prints_one_document_per_line(tmp_path: Path) -> None:
    with served_registry(tmp_path / "var") as (url,):
        for n in range(3):
            document = {**bundle_asset(f"listed-{n}"), "asset_file_ids": [], "files": []}
            assert httpx.post(f"{url}/assets", json=document).status_code == 201
        address = url.removeprefix("http://")  # host:port, as the README writes it
        listed = subprocess.run(
            [sys.executable, "-m", "assets_registry", "assets", "list", "--json", "--url", address],
            capture_output=True,
            text=True,
            check=True,
        )
        lines = [json.loads(line) for line in listed.stdout.splitlines()]
        assert sorted(d["asset_id"] for d in lines) == ["listed-0", "listed-1", "listed-2"]
