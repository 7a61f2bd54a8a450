"""``auth=tokens``: every route but health needs a token of the right scope; a bucket-limited
token sees only its buckets; readonly buckets download without one; tokens are revoked at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from falcon import testing

from assets_registry.apps.cli import main
from assets_registry.apps.container import Services, build_container
from assets_registry.apps.http import create_app
from assets_registry.apps.server import check_exposure
from assets_registry.apps.settings import load_settings
from assets_registry.core.errors import ConfigurationError
from assets_registry.testing import assert_problem, bundle_asset, bundle_zip, upload_form
from tests.stacks import REAL_STACK, STACKS, ExternalStack, run_jobs, use_external_stack

ROUTES = [
    ("GET", "/query/by-id/a"),
    ("GET", "/query/by-type/model"),
    ("GET", "/query/by-sub-type/llm"),
    ("GET", "/query/by-tag/t"),
    ("GET", "/query/by-api-route/x"),
    ("POST", "/query/search"),
    ("GET", '/graphql?query={getAssetById(assetId:"a"){assetId}}'),
    ("POST", "/graphql"),
    ("POST", "/assets"),
    ("PUT", "/assets/a"),
    ("PATCH", "/assets/a"),
    ("DELETE", "/assets/a"),
    ("POST", "/zip/upload"),
    ("GET", "/zip/status/u"),
    ("GET", "/zip/download/a"),
    ("HEAD", "/zip/download/a"),
    ("GET", "/buckets"),
    ("GET", "/buckets/b"),
    ("PUT", "/buckets/b"),
    ("DELETE", "/buckets/b"),
    ("GET", "/sources"),
    ("GET", "/sources/a"),
    ("PUT", "/sources/a"),
    ("DELETE", "/sources/a"),
    ("GET", "/tokens"),
    ("POST", "/tokens"),
    ("DELETE", "/tokens/t"),
]
READS = [
    (m, p) for m, p in ROUTES if (m in ("GET", "HEAD") or p in ("/query/search", "/graphql")) and "tokens" not in p
]
WRITES = [(m, p) for m, p in ROUTES if (m, p) not in READS and not p.startswith("/tokens")]


class Guarded:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.client = testing.TestClient(create_app(services))
        services.asset_store.ensure_default_bucket()
        self.admin = self.token("root", "admin")

    def token(self, name: str, scope: str, *buckets: str, expires: float | None = None) -> str:
        secret, _record = self.services.tokens.create(name, scope, buckets, expires)
        return secret

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> testing.Result:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        path, _, query = path.partition("?")
        return self.client.simulate_request(method, path, query_string=query or None, headers=headers, **kwargs)

    def upload(self, token: str, asset_id: str, bucket: str | None = None) -> testing.Result:
        body, headers = upload_form(bundle_zip(bundle_asset(asset_id), {"a.txt": asset_id.encode()}))
        params = {"bucket": bucket} if bucket else {}
        return self.call("POST", "/zip/upload", token, body=body, headers=headers, params=params)

    def run_jobs(self) -> None:
        run_jobs(self.services)


def guarded_services(request: pytest.FixtureRequest, tmp_path: Path, **settings: Any) -> Services:
    """Services with ``auth=tokens`` on the stack ``request.param`` names (the real one: its workers run jobs)."""
    if request.param == REAL_STACK:
        stack = request.getfixturevalue("real_stack")
        stack.reset()
        built = build_container(load_settings(data_dir=tmp_path / "var", auth="tokens", job_threads=0,
                                              **stack.urls, **settings)).services()  # fmt: skip
        use_external_stack(built, ExternalStack(stack.wait_for_jobs, stack.stored_keys))
        return built
    return build_container(load_settings(data_dir=tmp_path / "var", auth="tokens", **settings)).services()


@pytest.fixture(params=STACKS)
def guarded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Guarded]:
    services = guarded_services(request, tmp_path)
    try:
        yield Guarded(services)
    finally:
        services.close()


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_but_health_needs_a_token(guarded: Guarded, method: str, path: str) -> None:
    for token in (None, "areg_0123456789abcdef_" + "x" * 43, "not-a-token", "Basic abc"):
        headers = {"Authorization": token} if token == "Basic abc" else {}
        result = guarded.call(method, path, None if token in (None, "Basic abc") else token, headers=headers)
        assert result.status_code == 401, (method, path, token, result.status_code, result.text)
        assert result.headers["WWW-Authenticate"] == 'Bearer realm="assets-registry"'
        if method != "HEAD":
            assert result.json["code"] == "unauthenticated"
    for open_path in ("/healthz", "/readyz"):
        assert guarded.call("GET", open_path).status_code == 200


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_a_read_token_gets_403_on_every_write(guarded: Guarded, method: str, path: str) -> None:
    reader = guarded.token("reader", "read")
    problem = assert_problem(guarded.call(method, path, reader, json={}), 403, "forbidden")
    assert "read scope" in problem["detail"] and "needs write" in problem["detail"], problem


@pytest.mark.parametrize(("method", "path"), READS)
def test_a_read_token_reads(guarded: Guarded, method: str, path: str) -> None:
    reader = guarded.token("reader", "read")
    body = {"query": "{ buckets { items { name } } }"} if path == "/graphql" else {}
    assert guarded.call(method, path, reader, json=body).status_code in (200, 404), (method, path)


def test_tokens_and_forced_deletes_take_admin(guarded: Guarded) -> None:
    writer = guarded.token("writer", "write")
    assert_problem(guarded.call("GET", "/tokens", writer), 403, "forbidden")
    assert guarded.call("PUT", "/buckets/doomed", writer, json={}).status_code == 201
    assert_problem(guarded.call("DELETE", "/buckets/doomed?force=true", writer), 403, "forbidden")
    assert guarded.call("DELETE", "/buckets/doomed?force=true", guarded.admin).status_code == 204
    made = guarded.call("POST", "/tokens", guarded.admin, json={"name": "ci", "scope": "read", "expires": "1h"})
    assert made.status_code == 201 and made.json["token"].startswith("areg_"), made.text
    assert guarded.call("GET", "/buckets", made.json["token"]).status_code == 200
    listed = guarded.call("GET", "/tokens", guarded.admin).json
    assert {t["name"] for t in listed} == {"root", "writer", "ci"}
    assert not any("token" in t or "digest" in t for t in listed), listed
    assert guarded.call("DELETE", "/tokens/ci", guarded.admin).json["revoked_at"] is not None
    assert_problem(guarded.call("GET", "/buckets", made.json["token"]), 401, "unauthenticated")
    assert_problem(guarded.call("POST", "/tokens", guarded.admin, json={"name": "root", "scope": "read"}),
                   409, "token_exists")  # fmt: skip
    assert_problem(guarded.call("POST", "/tokens", guarded.admin, json={"name": "x", "scope": "god"}),
                   400, "invalid_input")  # fmt: skip


def test_revoked_and_expired_tokens_fail_at_once(guarded: Guarded, tmp_path: Path) -> None:
    other = Guarded.__new__(Guarded)  # a second process on the same backends
    other.services = guarded.services
    other.client = testing.TestClient(create_app(build_container(guarded.services.settings).services()))
    token = guarded.token("short", "read")
    assert other.call("GET", "/buckets", token).status_code == 200
    guarded.services.tokens.revoke("short")
    problem = assert_problem(other.call("GET", "/buckets", token), 401, "unauthenticated")
    assert "revoked" in problem["detail"]
    expiring = guarded.token("expiring", "read", expires=0.2)
    assert other.call("GET", "/buckets", expiring).status_code == 200
    import time

    time.sleep(0.3)
    assert "expired" in assert_problem(other.call("GET", "/buckets", expiring), 401, "unauthenticated")["detail"]


def test_a_bucket_limited_token_sees_and_touches_only_its_buckets(guarded: Guarded) -> None:
    for name in ("team-a", "team-b"):
        assert guarded.call("PUT", f"/buckets/{name}", guarded.admin, json={}).status_code == 201
    assert guarded.upload(guarded.admin, "of-a", "team-a").status_code == 202
    assert guarded.upload(guarded.admin, "of-b", "team-b").status_code == 202
    assert guarded.upload(guarded.admin, "of-default").status_code == 202
    guarded.run_jobs()
    limited = guarded.token("team-a-writer", "write", "team-a")

    assert guarded.call("GET", "/query/by-id/of-a", limited).status_code == 200
    for hidden in ("of-b", "of-default"):
        assert_problem(guarded.call("GET", f"/query/by-id/{hidden}", limited), 404, "asset_not_found")
        assert_problem(guarded.call("GET", f"/zip/download/{hidden}", limited), 404, "asset_not_found")
        assert_problem(guarded.call("DELETE", f"/assets/{hidden}", limited), 404, "asset_not_found")
    assert [d["asset_id"] for d in guarded.call("GET", "/query/by-type/model", limited).json] == ["of-a"]
    searched = guarded.call("POST", "/query/search", limited, json={"asset_version": "v1"}).json
    assert [d["asset_id"] for d in searched] == ["of-a"]
    query = '{ getAssetsByType(assetType: "model") { assetId } b: getAssetById(assetId: "of-b") { assetId } }'
    data = guarded.call("POST", "/graphql", limited, json={"query": query}).json["data"]
    assert data == {"getAssetsByType": [{"assetId": "of-a"}], "b": None}
    assert [b["name"] for b in guarded.call("GET", "/buckets", limited).json] == ["team-a"]
    assert_problem(guarded.call("GET", "/buckets/team-b", limited), 404, "bucket_not_found")
    assert_problem(guarded.upload(limited, "into-b", "team-b"), 403, "forbidden")
    assert_problem(guarded.upload(limited, "into-default"), 403, "forbidden")
    assert_problem(guarded.call("PUT", "/buckets/team-b", limited, json={"policy": "readonly"}), 403, "forbidden")
    spec = {"url": "http://example.com/f", "bucket": "team-b", "asset": {}}
    assert_problem(guarded.call("PUT", "/sources/s-b", limited, json=spec), 403, "forbidden")
    assert guarded.upload(limited, "into-a", "team-a").status_code == 202
    guarded.run_jobs()
    assert guarded.call("GET", "/query/by-id/into-a", limited).status_code == 200
    # The unlimited token still sees everything.
    everything = guarded.call("GET", "/query/by-type/model", guarded.admin).json
    assert {d["asset_id"] for d in everything} == {"of-a", "of-b", "of-default", "into-a"}


def test_a_readonly_buckets_downloads_need_no_token(guarded: Guarded) -> None:
    guarded.call("PUT", "/buckets/public", guarded.admin, json={"policy": "readonly"})
    guarded.call("PUT", "/buckets/private", guarded.admin, json={"policy": "none"})
    guarded.upload(guarded.admin, "open", "public")
    guarded.upload(guarded.admin, "closed", "private")
    guarded.run_jobs()
    assert guarded.call("GET", "/zip/download/open").status_code == 200
    assert guarded.call("HEAD", "/zip/download/open").status_code == 200
    assert_problem(guarded.call("GET", "/zip/download/closed"), 401, "unauthenticated")
    assert_problem(guarded.call("GET", "/zip/download/nothing"), 401, "unauthenticated")
    assert_problem(guarded.call("GET", "/query/by-id/open"), 401, "unauthenticated")  # only the files are public


def test_serve_will_not_expose_an_open_registry(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="--allow-anonymous"):
        check_exposure(load_settings(data_dir=tmp_path, bind=["0.0.0.0:8080"]))
    for allowed in (
        {"bind": ["127.0.0.1:8080", "[::1]:8081", "localhost:8082"]},
        {"bind": ["0.0.0.0:8080"], "allow_anonymous": True},
        {"bind": ["0.0.0.0:8080"], "auth": "tokens"},
    ):
        check_exposure(load_settings(data_dir=tmp_path, **allowed))


def test_the_tokens_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--data-dir", str(tmp_path / "var")]
    assert (
        main(["tokens", "create", "deployer", "--scope", "write", "--bucket", "models", "--expires", "30d", *base]) == 0
    )
    captured = capsys.readouterr()
    token = captured.out.splitlines()[-1]
    assert captured.out == token + "\n" and token.startswith("areg_")
    assert json.loads(captured.err)["buckets"] == ["models"]
    assert main(["tokens", "list", *base]) == 0
    listing = capsys.readouterr().out
    assert "deployer" in listing and "models" in listing and token not in listing
    assert main(["config", *base]) == 0
    assert token not in capsys.readouterr().out
    assert main(["tokens", "revoke", "deployer", *base]) == 0
    assert capsys.readouterr().out.strip() == "token/deployer revoked"
    assert main(["tokens", "revoke", "deployer", *base]) == 2
    assert "No live token" in capsys.readouterr().err
