"""The web UI's session without a browser: sign-in from this site only, the cookie's flags, writes
taken with it only from this site's pages, a stale one still downloading what anyone may."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlencode

from falcon import testing

from assets_registry.apps.container import Services
from assets_registry.apps.http import create_app
from assets_registry.testing import bundle_asset, bundle_zip, upload_form

HOST = "falconframework.org"  # the test client's Host


def _login(client: testing.TestClient, form: dict[str, str], **headers: str) -> testing.Result:
    """The sign-in form as a browser posts it."""
    body = urlencode(form)
    return client.simulate_post(
        "/ui/login", body=body, headers={"Content-Type": "application/x-www-form-urlencoded", **headers}
    )


def _app(services: Services, **settings: object) -> testing.TestClient:
    changed = services.settings.model_copy(update={"auth": "tokens", **settings})
    return testing.TestClient(create_app(dataclasses.replace(services, settings=changed)))


def test_signing_in_sets_a_strict_cookie_only_from_this_site(embedded_services: Services) -> None:
    client = _app(embedded_services)
    token, _ = embedded_services.tokens.create("ui-reader", "read")
    page = client.simulate_get("/ui/buckets")
    assert (page.status_code, page.headers["location"]) == (303, "/ui/login?next=%2Fui%2Fbuckets")
    form = {"token": token, "next": "/ui/buckets"}
    elsewhere = _login(client, form, Origin="https://evil.example")
    assert elsewhere.status_code == 403 and "assets_registry_token" not in elsewhere.cookies
    assert _login(client, form).status_code == 403, "no Origin: not this site's form"
    signed = _login(client, form, Origin=f"http://{HOST}")
    assert (signed.status_code, signed.headers["location"]) == (303, "/ui/buckets")
    cookie = signed.cookies["assets_registry_token"]
    assert cookie.http_only and cookie.same_site == "Strict" and cookie.path == "/" and not cookie.secure
    shown = client.simulate_get("/ui/buckets", cookies={"assets_registry_token": token})
    assert shown.status_code == 200 and "ui-reader" in shown.text
    behind_tls = _login(client, form, Origin=f"http://{HOST}", **{"X-Forwarded-Proto": "https"})
    assert behind_tls.cookies["assets_registry_token"].secure  # the server decides the trust (apps.granian_server)
    away = _login(client, {**form, "next": "//evil.example/x"}, Origin=f"http://{HOST}")
    assert away.headers["location"] == "/ui"


def test_writes_take_the_cookie_only_from_this_sites_pages(embedded_services: Services) -> None:
    token, _ = embedded_services.tokens.create("ui-writer", "write")
    jar = {"assets_registry_token": token}
    client = _app(embedded_services, public_url="https://registry.example.org/api")
    for origin, status in (("https://evil.example", 401), (None, 401), (f"http://{HOST}", 201),
                           ("https://registry.example.org", 200)):  # fmt: skip
        headers = {"Origin": origin} if origin else {}
        answer = client.simulate_put("/buckets/from-ui", json={}, cookies=jar, headers=headers)
        assert answer.status_code == status, (origin, answer.text)


def test_a_stale_session_still_downloads_what_anyone_may(embedded_services: Services) -> None:
    admin, _ = embedded_services.tokens.create("ui-admin", "admin")
    client = _app(embedded_services)
    auth = {"Authorization": f"Bearer {admin}"}
    assert client.simulate_put("/buckets/open", json={"policy": "readonly"}, headers=auth).status_code == 201
    body, headers = upload_form(bundle_zip(bundle_asset("open-1"), {"a.txt": b"a"}))
    upload = client.simulate_post("/zip/upload", body=body, headers={**headers, **auth}, params={"bucket": "open"})
    assert upload.status_code == 202, upload.text
    embedded_services.bundles.run_next("ui-test")
    stale, _ = embedded_services.tokens.create("ui-stale", "read")
    embedded_services.tokens.revoke("ui-stale")
    jar = {"assets_registry_token": stale}
    assert client.simulate_get("/zip/download/open-1", cookies=jar).status_code == 200
    assert client.simulate_get("/assets/open-1/files/a.txt", cookies=jar).content == b"a"
    assert client.simulate_get("/query/by-id/open-1", cookies=jar).status_code == 401
    assert client.simulate_get("/ui", cookies=jar).status_code == 303


def test_ui_errors_are_pages_with_the_apis_status(embedded_services: Services) -> None:
    client = testing.TestClient(create_app(embedded_services))
    missing = client.simulate_get("/ui/assets/nope")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "asset_not_found" in missing.text
    assert client.simulate_get("/ui/login").status_code == 404, "no sign-in without auth=tokens"
    docs = client.simulate_get("/docs/")  # a trailing slash: the page's own links stay absolute
    assert 'src="/static/vendor/swagger-ui-bundle.js"' in docs.text and 'data-spec="/openapi.json"' in docs.text
