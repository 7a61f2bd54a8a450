"""``auth=tokens`` on a real ``assets-registry serve`` with two processes, on the embedded default
and on MongoDB + S3 + Redis: a revoked token is refused by every process from its next request,
the CLI's ``--token`` / ``ASSETS_TOKEN`` reach the server, and an upload run by a worker shows in
the audit trail with its uploader's token name."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assets_registry.apps.cli import main
from assets_registry.apps.container import Services, build_container
from assets_registry.apps.settings import load_settings
from assets_registry.testing import bundle_asset, write_bundle
from tests.served import served_registry
from tests.stacks import REAL_STACK, STACKS, stack_settings


@pytest.fixture(params=STACKS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Services]]:
    environment = {**stack_settings(request), "ASSETS_AUTH": "tokens"}
    urls: dict[str, Any] = request.getfixturevalue("real_stack").urls if request.param == REAL_STACK else {}
    data_dir = tmp_path / "served"
    admin = build_container(load_settings(data_dir=data_dir, **urls)).services()  # same backends, same key file
    try:
        with served_registry(data_dir, 1, 2, settings=environment) as (url,):
            yield url, admin
    finally:
        admin.close()


def test_a_revoked_token_is_refused_by_every_process_at_once(served: tuple[str, Services]) -> None:
    url, admin = served
    token, _record = admin.tokens.create("short-lived", "read")
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        assert all(client.get("/buckets").status_code == 200 for _ in range(20))  # both processes answered
        admin.tokens.revoke("short-lived")
        answers = [client.get("/buckets") for _ in range(20)]
    assert [a.status_code for a in answers] == [401] * 20
    assert answers[0].headers["WWW-Authenticate"] == 'Bearer realm="assets-registry"'
    assert token not in answers[0].text
    assert httpx.get(f"{url}/buckets").status_code == 401
    assert httpx.get(f"{url}/healthz").status_code == 200
    expiring, _ = admin.tokens.create("expiring", "read", expires_in=1.0)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {expiring}"}) as client:
        assert client.get("/buckets").status_code == 200
        time.sleep(1.1)
        expired = [client.get("/buckets") for _ in range(20)]
    assert [a.status_code for a in expired] == [401] * 20 and "expired" in expired[0].json()["detail"]


def test_the_cli_sends_its_token(
    served: tuple[str, Services], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, admin = served
    writer, _ = admin.tokens.create("writer", "write")
    bundle = tmp_path / "b.zip"
    write_bundle(bundle, bundle_asset("with-token"), {"a.txt": b"a"})
    assert main(["upload", str(bundle), "--quiet", "--url", url]) == 1
    assert "needs a token" in capsys.readouterr().err
    assert main(["upload", str(bundle), "--quiet", "--wait", "--url", url, "--token", writer]) == 0
    capsys.readouterr()
    root, _ = admin.tokens.create("root", "admin")
    audit = httpx.get(f"{url}/audit", params={"asset_id": "with-token"}, headers={"Authorization": f"Bearer {root}"})
    assert audit.status_code == 200, audit.text
    assert [(c["action"], c["actor"]) for c in audit.json()] == [
        ("asset.created", "writer"),
        ("upload.ended", "writer"),
    ]
    revisions = httpx.get(f"{url}/assets/with-token/revisions/1", headers={"Authorization": f"Bearer {writer}"})
    assert revisions.json()["document"]["asset_id"] == "with-token"
    monkeypatch.setenv("ASSETS_TOKEN", writer)
    assert main(["buckets", "put", "cli-auth", "--url", url]) == 0
    assert main(["buckets", "list", "--url", url]) == 0
    assert "cli-auth" in capsys.readouterr().out
