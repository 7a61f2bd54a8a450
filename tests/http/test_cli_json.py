"""``--json`` on every command that prints a result: one JSON object per line on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assets_registry.apps.cli import build_parser, main
from assets_registry.testing import bundle_asset, write_bundle
from tests.served import served_registry


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_every_command_that_prints_takes_json() -> None:
    import argparse

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, parser in commands.choices.items():
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        for leaf_name, leaf in subs[0].choices.items() if subs else [(name, parser)]:
            if name not in ("serve", "worker") and "--json" not in leaf._option_string_actions:
                missing.append(f"{name} {leaf_name}")
    assert missing == []


def test_results_as_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with served_registry(tmp_path / "var") as (url,):
        address = url.removeprefix("http://")
        document = {**bundle_asset("json-1"), "asset_file_ids": [], "files": []}
        (tmp_path / "asset.json").write_text(json.dumps(document))
        assert main(["assets", "create", f"@{tmp_path / 'asset.json'}", "--json", "--url", address]) == 0
        assert _lines(capsys)[0]["asset_id"] == "json-1"
        assert main(["assets", "delete", "json-1", "--json", "--url", address]) == 0
        assert _lines(capsys) == [{"success": True, "asset_id": "json-1"}]

        bundle = tmp_path / "json-2.zip"
        write_bundle(bundle, bundle_asset("json-2"), {"a.txt": b"abc"})
        assert main(["upload", str(bundle), "--wait", "--json", "--quiet", "--url", address]) == 0
        queued, ended = _lines(capsys)
        assert set(queued) == {"upload_id"} and ended["upload_id"] == queued["upload_id"]
        assert (ended["status"], ended["reason"], ended["asset_id"]) == ("success", "uploaded", "json-2")
        out = tmp_path / "a.txt"
        assert main(["download", "json-2", "a.txt", "-o", str(out), "--json", "-q", "--url", address]) == 0
        assert _lines(capsys) == [{"asset_id": "json-2", "file_id": "a.txt", "path": str(out), "bytes": 3}]
        assert main(["download", "json-2", "-o", "-", "--json", "--url", address]) == 2

        assert main(["buckets", "put", "json-bucket", "--url", address]) == 0
        capsys.readouterr()
        assert main(["buckets", "delete", "json-bucket", "--json", "--url", address]) == 0
        assert _lines(capsys) == [{"bucket": "json-bucket", "deleted": True}]
    data = tmp_path / "tokens"
    assert main(["tokens", "create", "ci", "--scope", "read", "--json", "--data-dir", str(data)]) == 0
    made = _lines(capsys)
    assert len(made) == 1 and made[0]["name"] == "ci" and str(made[0]["token"]).startswith("areg_")
    assert main(["tokens", "revoke", "ci", "--json", "--data-dir", str(data)]) == 0
    assert _lines(capsys)[0]["revoked_at"] is not None
