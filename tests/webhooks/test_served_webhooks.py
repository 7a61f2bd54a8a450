"""Webhook services from a real ``assets-registry serve`` (gunicorn, two worker processes), the
bundle sent by the command-line client naming them, the reference service on loopback."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

from assets_registry.testing import bundle_asset, write_bundle
from assets_registry.testing.webhooks import ReferenceWebhooks
from tests.served import registry_env, served_registry


def test_a_served_registry_runs_the_services_an_upload_names(tmp_path: Path) -> None:
    reference = ReferenceWebhooks()
    with reference.serve() as hooks:
        services = [
            {"name": "scrub", "kind": "mutation", "endpoint": f"{hooks}/v1/mutate",
             "parameters": {"find": "secret", "replace": "public"}},
            {"name": "check", "kind": "validation", "endpoint": f"{hooks}/v1/validate",
             "parameters": {"forbidden": ["virus"]}},
            {"name": "describe", "kind": "metadata", "endpoint": f"{hooks}/v1/metadata", "always": True},
        ]  # fmt: skip
        settings = {"ASSETS_SERVICES": json.dumps(services)}
        with served_registry(tmp_path / "var", 1, 2, settings=settings) as (url,):
            good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
            write_bundle(good, bundle_asset("served-hooks"), {"a.txt": b"a secret\n"})
            write_bundle(bad, bundle_asset("served-virus"), {"b.txt": b"a virus\n"})
            upload = [sys.executable, "-m", "assets_registry", "upload", "--url", url, "--wait", "--quiet"]
            done = subprocess.run(
                [*upload, "--services", "scrub,check", str(good)],
                env=registry_env(),
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            with urllib.request.urlopen(f"{url}/zip/download/served-hooks", timeout=30) as answer:
                archive = zipfile.ZipFile(io.BytesIO(answer.read()))
            assert archive.read("a.txt") == b"a public\n"
            with urllib.request.urlopen(f"{url}/query/by-id/served-hooks", timeout=30) as answer:
                (entry,) = json.loads(answer.read())["files"]
            assert entry["asset_file_metadata"]["lines"] == 1 and entry["asset_file_metadata"]["size"] == 9
            refused = subprocess.run(
                [*upload, "--services", "check", str(bad)],
                env=registry_env(),
                capture_output=True,
                text=True,
                check=False,
            )
            assert refused.returncode == 1
            assert (
                "failed: validation_failed: check: b.txt: contains the forbidden text 'virus'"
                in refused.stdout + refused.stderr
            )
    assert [call.route for call in reference.calls] == [
        "/v1/mutate", "/v1/validate", "/v1/metadata", "/v1/validate"
    ]  # fmt: skip
