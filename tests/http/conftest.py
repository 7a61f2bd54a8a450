"""The HTTP suite's client: every test runs with ``auth=off`` and again with ``auth=tokens``,
where the client sends an admin token on every request (so every route is also exercised
through the access check). ``guarded``: services with ``auth=tokens`` on each stack, for the
access-control and history tests (``tests.http.guarded``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from falcon import testing

from assets_registry.apps.container import Services
from assets_registry.apps.http import create_app
from tests.http.guarded import Guarded, guarded_services
from tests.stacks import STACKS


@pytest.fixture(params=["auth-off", "auth-tokens"])
def client(request: pytest.FixtureRequest, services: Services) -> testing.TestClient:
    if request.param == "auth-off":
        return testing.TestClient(create_app(services))
    guarded = dataclasses.replace(services, settings=services.settings.model_copy(update={"auth": "tokens"}))
    token, _record = services.tokens.create("http-suite", "admin")
    return testing.TestClient(create_app(guarded), headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(params=STACKS)
def guarded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Guarded]:
    services = guarded_services(request, tmp_path)
    try:
        yield Guarded(services)
    finally:
        services.close()
