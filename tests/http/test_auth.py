"""``auth=tokens``: every route but health needs a token of the right scope; a bucket-limited
token sees only its buckets; readonly buckets download without one; tokens are revoked at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from falcon import testing

from assets_registry.apps.cli import main
from assets_registry.apps.container import build_container
from assets_registry.apps.http import create_app
from assets_registry.apps.server import check_exposure
from assets_registry.apps.settings import load_settings
from assets_registry.core.errors import ConfigurationError
from assets_registry.testing import assert_problem
from tests.http.guarded import Guarded

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
    ("POST", "/uploads"),
    ("PATCH", "/uploads/u"),
    ("DELETE", "/uploads/u"),
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
    ("GET", "/metrics"),
]
READS = [
    (m, p) for m, p in ROUTES if (m in ("GET", "HEAD") or p in ("/query/search", "/graphql")) and "tokens" not in p
]
WRITES = [(m, p) for m, p in ROUTES if (m, p) not in READS and not p.startswith("/tokens")]


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
    assert guarded.call("GET", "/assets/open/files/a.txt").content == b"open"
    assert_problem(guarded.call("GET", "/assets/closed/files/a.txt"), 401, "unauthenticated")
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


def test_a_known_token_id_with_a_wrong_secret_is_refused(guarded: Guarded) -> None:
    good = guarded.token("known", "read")
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    assert_problem(guarded.call("GET", "/buckets", forged), 401, "unauthenticated")
    assert guarded.call("GET", "/buckets", good).status_code == 200


def test_a_bucket_limited_admin_may_not_make_tokens_or_read_the_audit(guarded: Guarded) -> None:
    guarded.call("PUT", "/buckets/team-a", guarded.admin, json={})
    limited_admin = guarded.token("team-a-admin", "admin", "team-a")
    for method, path in (("GET", "/tokens"), ("POST", "/tokens"), ("DELETE", "/tokens/root"), ("GET", "/audit")):
        body = {"name": "escape", "scope": "admin"}
        problem = assert_problem(guarded.call(method, path, limited_admin, json=body), 403, "forbidden")
        assert "limited to some buckets" in problem["detail"], problem
    assert guarded.call("GET", "/buckets", guarded.admin).status_code == 200, "root was not revoked"


def _decoded(cursor: str | None) -> str | None:
    from assets_registry.core.pagination import decode_cursor

    return decode_cursor(cursor) if cursor else None


def test_pages_and_cursors_of_a_bucket_limited_token_tell_nothing_of_other_buckets(guarded: Guarded) -> None:
    for name in ("team-a", "team-b"):
        guarded.call("PUT", f"/buckets/{name}", guarded.admin, json={})
    for n in range(6):
        guarded.upload(guarded.admin, f"a-{n}", "team-a" if n % 2 else "team-b")
        spec = {"url": "http://example.com/f", "bucket": "team-a" if n % 2 else "team-b"}
        guarded.call("PUT", f"/sources/s-{n}", guarded.admin, json=spec)
    guarded.run_jobs()
    limited = guarded.token("team-a-reader", "read", "team-a")
    visible = {"a-1", "a-3", "a-5"}
    for method, path, key, body, want in (
        ("GET", "/query/by-type/model?limit=1", "asset_id", None, visible),
        ("POST", "/query/search?limit=1", "asset_id", {"asset_version": "v1"}, visible),
        ("GET", "/sources?limit=1", "asset_id", None, {"s-1", "s-3", "s-5"}),
        ("GET", "/buckets?limit=1", "name", None, {"team-a"}),
    ):
        seen: set[str] = set()
        cursor: str | None = None
        for _ in range(10):
            page = guarded.call(method, path + (f"&cursor={cursor}" if cursor else ""), limited, json=body)
            assert page.status_code == 200, page.text
            seen |= {item[key] for item in page.json}
            cursor = page.headers.get("X-Next-Cursor")
            assert _decoded(cursor) in want | {None}, (path, _decoded(cursor))
            if not cursor:
                break
        assert seen == want, (path, seen)
    # A search cannot be made an oracle of a hidden asset's fields.
    guesses = [{"$or": [{"asset_id": "a-0", "asset_uri": uri}, {"asset_id": "a-1"}]}
               for uri in ("models://example.com/a-0", "wrong")]  # fmt: skip
    answers = [guarded.call("POST", "/query/search?limit=1", limited, json=g) for g in guesses]
    assert [a.json for a in answers] == [answers[1].json] * 2 and answers[0].headers.get("X-Next-Cursor") is None


def test_a_bucket_limited_writer_cannot_move_an_asset_out_of_its_bucket(guarded: Guarded) -> None:
    guarded.call("PUT", "/buckets/team-a", guarded.admin, json={})
    guarded.upload(guarded.admin, "anchored", "team-a")
    guarded.run_jobs()
    limited = guarded.token("team-a-writer", "write", "team-a")
    document = guarded.call("GET", "/query/by-id/anchored", limited).json
    outside = [{**f, "asset_file_url": "https://example.com/elsewhere"} for f in document["files"]]
    assert_problem(guarded.call("PUT", "/assets/anchored", limited, json={"files": outside}), 403, "forbidden")
    assert guarded.call("GET", "/query/by-id/anchored", limited).json["files"] == document["files"]


def test_only_an_admin_opens_a_bucket_to_anyone(guarded: Guarded) -> None:
    writer = guarded.token("writer", "write")
    assert_problem(guarded.call("PUT", "/buckets/open", writer, json={"policy": "readonly"}), 403, "forbidden")
    assert guarded.call("PUT", "/buckets/closed", writer, json={"policy": "none"}).status_code == 201
    assert_problem(guarded.call("PUT", "/buckets/closed", writer, json={"policy": "readwrite"}), 403, "forbidden")
    assert guarded.call("PUT", "/buckets/open", guarded.admin, json={"policy": "readonly"}).status_code == 201
    kept = guarded.call("PUT", "/buckets/open", writer, json={"policy": "readonly", "region": "eu"})
    assert kept.status_code == 200, "a writer may change a public bucket that stays as public"


def test_uploads_and_revisions_of_other_buckets_are_not_found(guarded: Guarded) -> None:
    for name in ("team-a", "team-b"):
        guarded.call("PUT", f"/buckets/{name}", guarded.admin, json={})
    hidden = guarded.upload(guarded.admin, "moved", "team-b").json["upload_id"]
    guarded.run_jobs()
    guarded.call("DELETE", "/assets/moved", guarded.admin)
    guarded.upload(guarded.admin, "moved", "team-a")
    guarded.run_jobs()
    limited = guarded.token("team-a-reader", "read", "team-a")
    assert_problem(guarded.call("GET", f"/zip/status/{hidden}", limited), 404, "upload_not_found")
    assert guarded.call("GET", f"/zip/status/{hidden}", guarded.admin).status_code == 200
    listed = guarded.call("GET", "/assets/moved/revisions", limited).json
    assert [r["n"] for r in listed] == [2], "the team-b version is not listed"
    assert_problem(guarded.call("GET", "/assets/moved/revisions/1", limited), 404, "revision_not_found")


def test_token_names_of_the_audit_trail_are_reserved(guarded: Guarded) -> None:
    for name in ("anonymous", "system"):
        made = guarded.call("POST", "/tokens", guarded.admin, json={"name": name, "scope": "read"})
        assert_problem(made, 400, "invalid_input")


def test_processes_starting_together_share_one_token_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys; from assets_registry.apps.container import auth_key; "
        "from assets_registry.apps.settings import load_settings; "
        "print(auth_key(load_settings(data_dir=sys.argv[1])).decode())"
    )
    for trial in range(3):
        data_dir = tmp_path / f"var{trial}"
        racers = [subprocess.Popen([sys.executable, "-c", script, str(data_dir)], stdout=subprocess.PIPE)
                  for _ in range(8)]  # fmt: skip
        keys = {racer.communicate()[0].strip() for racer in racers}
        assert len(keys) == 1 and len(keys.pop()) == 64, keys


def test_the_graphiql_page_and_static_files_need_no_token_but_its_queries_do(guarded: Guarded) -> None:
    page = guarded.call("GET", "/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "/static/vendor/graphiql.min.js" in page.text
    assert guarded.call("GET", "/static/vendor/graphiql.min.js").status_code == 200
    assert_problem(
        guarded.call("POST", "/graphql", json={"query": "{ buckets { nextCursor } }"}), 401, "unauthenticated"
    )


def test_a_resumable_upload_is_its_creators(guarded: Guarded) -> None:
    tus = {"Tus-Resumable": "1.0.0"}
    stream = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    owner, other = guarded.token("owner", "write"), guarded.token("other", "write")
    created = guarded.call("POST", "/uploads", owner, headers={**tus, "Upload-Length": "10"})
    assert created.status_code == 201, created.text
    refused = guarded.call("POST", "/uploads", None, headers={**tus, "Upload-Length": "10"})
    assert (refused.status_code, refused.headers["Tus-Resumable"]) == (401, "1.0.0")  # tus: on every answer
    upload = created.headers["Location"]
    assert guarded.call("HEAD", upload, other, headers=tus).status_code == 404
    assert_problem(guarded.call("PATCH", upload, other, body=b"x", headers=stream), 404, "upload_not_found")
    assert_problem(guarded.call("DELETE", upload, other, headers=tus), 404, "upload_not_found")
    assert guarded.call("HEAD", upload, guarded.admin, headers=tus).headers["Upload-Offset"] == "0"
    assert guarded.call("PATCH", upload, owner, body=b"x", headers=stream).headers["Upload-Offset"] == "1"
    limited = guarded.token("limited", "write", "elsewhere")
    assert_problem(guarded.call("POST", "/uploads", limited, headers={**tus, "Upload-Length": "10"}), 403, "forbidden")
