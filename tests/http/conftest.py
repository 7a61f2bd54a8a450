"""The HTTP suite's client: every test runs with ``auth=off`` and again with ``auth=tokens``,
where the client sends an admin token on every request (so every route is also exercised
through the access check)."""

from __future__ import annotations

import dataclasses

import pytest
from falcon import testing

from assets_registry.apps.container import Services
from assets_registry.apps.http import create_app


@pytest.fixture(params=["auth-off", "auth-tokens"])
def client(request: pytest.FixtureRequest, services: Services) -> testing.TestClient:
    if request.param == "auth-off":
        return testing.TestClient(create_app(services))
    guarded = dataclasses.replace(services, settings=services.settings.model_copy(update={"auth": "tokens"}))
    token, _record = services.tokens.create("http-suite", "admin")
    return testing.TestClient(create_app(guarded), headers={"Authorization": f"Bearer {token}"})
