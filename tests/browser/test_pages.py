"""Every page of a fresh install in headless Chromium with the network cut off: ``/docs``,
``/openapi.json``, the web UI's pages; the UI's upload flow from file picker to the asset's page
and a file downloaded from it; signing in under ``auth=tokens``; labels and the keyboard."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assets_registry.testing import bundle_asset, bundle_zip
from tests.browser.offline import offline_page
from tests.seed import SEED_ASSET
from tests.served import cli_token, served_registry

pytestmark = pytest.mark.real_servers

FILES = {"weights/model.bin": random.Random(15).randbytes(1 << 20), "README.md": b"# tiny model\n"}  # not a zip bomb


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_registry(tmp_path_factory.mktemp("pages")) as (url,):
        asset = {**SEED_ASSET, "asset_brief_description": "A seed asset"}
        asset["profiles"] = [{**SEED_ASSET["profiles"][0], "asset_tags": ["generative"]}]
        assert httpx.post(f"{url}/assets", json=asset).status_code == 201
        assert httpx.put(f"{url}/buckets/models", json={"policy": "readonly"}).status_code == 201
        source = {"bucket": "models", "url": "http://127.0.0.1:9/nothing.bin"}
        assert httpx.put(f"{url}/sources/from-url", json=source).status_code == 201
        yield url


def _wait_for_the_job(page: Any) -> None:
    page.wait_for_function("() => /Uploaded|failed|Refused|cut off/.test(document.getElementById('job').textContent)",
                           timeout=60_000)  # fmt: skip
    assert page.inner_text("#job").startswith("Uploaded: "), page.inner_text("#job")


def _unlabelled(page: Any) -> list[str]:
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(e => e.labels.length === 0).map(e => e.name || e.id)"""
        )
    )


@pytest.mark.parametrize(
    ("path", "ready", "expected"),
    [
        ("/docs", ".swagger-ui .opblock", "Assets Registry"),
        ("/openapi.json", "body", '"openapi":"3.1.0"'),
        ("/ui", "table.assets tbody tr", "asset-001"),
        ("/ui?tag=generative&q=SEED", "table.assets tbody tr", "asset-001"),
        ("/ui/assets/asset-001", "#files", "profile-001"),
        ("/ui/upload", "form#upload", "ZIP bundle"),
        ("/ui/buckets", "table tbody tr", "models"),
        ("/ui/sources", "table tbody tr", "from-url"),
    ],
)
def test_each_page_renders_with_the_network_cut_off(
    browser: Any, server: str, path: str, ready: str, expected: str
) -> None:
    offline = offline_page(browser, server)
    answer = offline.page.goto(server + path, wait_until="networkidle")
    assert answer is not None and answer.status == 200
    offline.page.wait_for_selector(ready, timeout=30_000)
    assert expected in offline.page.content()
    assert _unlabelled(offline.page) == []
    name = "page" + path.replace("/", "-").replace("?", "-").replace("&", "-").replace("=", "-")
    offline.screenshot(name)
    offline.assert_clean()
    offline.page.context.close()


def test_the_docs_page_lists_every_operation(browser: Any, server: str) -> None:
    offline = offline_page(browser, server)
    offline.page.goto(f"{server}/docs", wait_until="networkidle")
    offline.page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    shown = offline.page.locator(".opblock").count()
    described = sum(len(ops) for ops in httpx.get(f"{server}/openapi.json").json()["paths"].values())
    assert shown == described > 30
    offline.assert_clean()
    offline.page.context.close()


def test_a_bundle_uploaded_in_the_ui_shows_progress_its_job_and_its_files(
    browser: Any, server: str, tmp_path: Path
) -> None:
    bundle = tmp_path / "tiny-model.zip"
    bundle.write_bytes(bundle_zip(bundle_asset("ui-upload-1"), FILES))
    offline = offline_page(browser, server, accept_downloads=True)
    page = offline.page
    page.goto(f"{server}/ui/upload", wait_until="networkidle")
    page.set_input_files("input[name=file]", str(bundle))
    page.select_option("select[name=bucket]", "models")
    page.click("form#upload button[type=submit]")
    _wait_for_the_job(page)
    assert page.eval_on_selector("#sent", "e => e.value") == 100
    offline.screenshot("ui-upload-done")
    page.click("#job a")
    page.wait_for_selector("#files", timeout=30_000)
    assert page.url.endswith("/ui/assets/ui-upload-1")
    row = page.locator("tr", has_text="weights/model.bin")
    assert hashlib.sha256(FILES["weights/model.bin"]).hexdigest() in row.inner_text()
    assert "1.0 MiB (1,048,576 B)" in row.inner_text()
    with page.expect_download() as download:
        row.get_by_role("link", name="Download weights/model.bin").click()
    assert Path(download.value.path()).read_bytes() == FILES["weights/model.bin"]
    offline.screenshot("ui-asset-page")
    offline.assert_clean()
    page.context.close()


def test_search_runs_from_the_keyboard(browser: Any, server: str) -> None:
    offline = offline_page(browser, server)
    page = offline.page
    page.goto(f"{server}/ui", wait_until="networkidle")
    page.keyboard.press("Tab")  # the skip link first
    page.keyboard.press("Enter")
    page.focus("input[name=type]")
    page.keyboard.type("model")
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui?type=model**")
    assert "asset-001" in page.inner_text("table.assets")
    page.fill("input[name=type]", "dataset")
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui?type=dataset**")
    assert "No asset matches." in page.inner_text("table.assets")
    offline.assert_clean()
    page.context.close()


def test_with_tokens_the_ui_signs_in_and_keeps_writes_to_its_own_pages(browser: Any, tmp_path: Path) -> None:
    data, settings = tmp_path / "var", {"ASSETS_AUTH": "tokens"}
    token = cli_token(data, "browser", "write", settings)
    with served_registry(data, settings=settings) as (url,):
        offline = offline_page(browser, url)
        page = offline.page
        page.goto(f"{url}/ui/buckets", wait_until="networkidle")
        assert "/ui/login?next=%2Fui%2Fbuckets" in page.url
        page.fill("input[name=token]", "areg_0000000000000000_wrong")
        page.click("form.login button[type=submit]")
        assert "not known" in page.inner_text("[role=alert]") or "not a token" in page.inner_text("[role=alert]")
        page.fill("input[name=token]", token)
        page.click("form.login button[type=submit]")
        page.wait_for_url(f"{url}/ui/buckets")
        assert "browser" in page.inner_text("header")
        bundle = tmp_path / "signed.zip"
        bundle.write_bytes(bundle_zip(bundle_asset("ui-signed-1"), {"a.txt": b"a"}))
        page.goto(f"{url}/ui/upload")
        page.set_input_files("input[name=file]", str(bundle))
        page.click("form#upload button[type=submit]")
        _wait_for_the_job(page)
        cookie = next(c for c in page.context.cookies() if c["name"] == "assets_registry_token")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        jar = {"assets_registry_token": cookie["value"]}
        # the cookie reads, but writes only from this site's pages
        assert httpx.get(f"{url}/query/by-id/ui-signed-1", cookies=jar).status_code == 200
        other_site = {"Origin": "http://evil.example", "Content-Type": "application/json"}
        put = httpx.put(f"{url}/buckets/stolen", cookies=jar, headers=other_site, content=b"{}")
        assert put.status_code == 401
        no_origin = httpx.put(f"{url}/buckets/stolen", cookies=jar, content=b"{}")
        assert no_origin.status_code == 401
        page.click("header button")  # sign out
        page.wait_for_url(f"{url}/ui/login")
        page.goto(f"{url}/ui")
        assert "/ui/login" in page.url
        offline.assert_clean()
        page.context.close()
        assert json.loads(httpx.get(f"{url}/healthz").text) == {"status": "ok"}
