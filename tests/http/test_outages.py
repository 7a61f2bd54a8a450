"""A backend that is down: 503 with Retry-After and a sentence naming it, in seconds, never a 500.

Each backend points at a loopback port nothing listens on, with short timeouts; the rest
of the registry stays on the embedded default, so the failing part is the only one down.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from falcon import testing

from assets_registry.apps.container import Services, build_container
from assets_registry.apps.http import create_app
from assets_registry.apps.settings import load_settings
from assets_registry.core.errors import BackendUnavailable
from assets_registry.testing import assert_problem, bundle_zip, upload_form
from tests.seed import SEED_ASSET
from tests.servers import free_port

DOWN = {
    "metadata": ("metadata_url", "mongodb://127.0.0.1:{port}/assets?serverSelectionTimeoutMS=1000", "MongoDB"),
    "blobs": (
        "blobs_url",
        "s3://bucket?endpoint_url=http%3A%2F%2F127.0.0.1%3A{port}&access_key_id=a&secret_access_key=b"
        "&connect_timeout=1&max_attempts=1",
        "S3",
    ),
    "jobs": ("jobs_url", "redis://127.0.0.1:{port}/0?socket_connect_timeout=1&socket_timeout=1", "Redis"),
}


@pytest.fixture(params=sorted(DOWN))
def down(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, Services]]:
    setting, url, name = DOWN[request.param]
    settings = load_settings(None, data_dir=tmp_path / "var", job_threads=0, **{setting: url.format(port=free_port())})
    services = build_container(settings).services()
    yield request.param, name, services
    services.close()


def answer_of(client: testing.TestClient, part: str) -> testing.Result:
    if part == "metadata":
        return client.simulate_post("/assets", json=SEED_ASSET)
    if part == "blobs":
        body, headers = upload_form(bundle_zip("zip-1", {"model.bin": b"\x00\x01" * 50_000}))
        return client.simulate_post("/zip/upload", body=body, headers=headers)
    return client.simulate_get("/zip/status/0a5e3de1-1fcd-4a65-9c83-18c5c0b4d612")


def _client(services: Services, auth: str) -> testing.TestClient:
    """With ``auth=tokens``: a token made where the catalog still answers; where it is down (it lives
    with the metadata), a well-formed token that cannot be looked up."""
    if auth == "auth-off":
        return testing.TestClient(create_app(services))
    guarded = dataclasses.replace(services, settings=services.settings.model_copy(update={"auth": "tokens"}))
    try:
        token, _ = services.tokens.create("outage-suite", "admin")
    except BackendUnavailable:
        token = "areg_0123456789abcdef_" + "A" * 43
    return testing.TestClient(create_app(guarded), headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("auth", ["auth-off", "auth-tokens"])
def test_a_down_backend_is_a_503_naming_it_within_seconds(down: tuple[str, str, Services], auth: str) -> None:
    """Also with tokens: a token that cannot be looked up is the backend's fault (503), not the client's."""
    part, name, services = down
    client = _client(services, auth)
    started = time.monotonic()
    result = answer_of(client, part)
    took = time.monotonic() - started
    body = assert_problem(result, 503, "backend_unavailable")
    assert result.headers["retry-after"].isdigit()
    assert name in body["detail"]
    assert took < 10, f"the answer took {took:.1f} s"


def test_readiness_names_the_down_backend_and_health_stays_up(down: tuple[str, str, Services]) -> None:
    part, name, services = down
    client = testing.TestClient(create_app(services))
    assert client.simulate_get("/healthz").status_code == 200
    ready = client.simulate_get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["retry-after"].isdigit()
    assert ready.json["status"] == "unavailable"
    assert name in ready.json["backends"][part]
    assert [v for k, v in ready.json["backends"].items() if k != part] == ["ok", "ok"]
