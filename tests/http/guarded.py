"""What the access-control tests share: services with ``auth=tokens`` on a stack, and a client
that sends a token of the caller's choice (``Guarded``); the ``guarded`` fixture is in ``conftest``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from falcon import testing

from assets_registry.apps.container import Services, build_container
from assets_registry.apps.http import create_app
from assets_registry.apps.settings import load_settings
from assets_registry.testing import bundle_asset, bundle_zip, upload_form
from tests.stacks import REAL_STACK, ExternalStack, run_jobs, use_external_stack


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
