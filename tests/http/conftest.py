from __future__ import annotations

import pytest
from falcon import testing

from assets_registry.apps.container import Services
from assets_registry.apps.http import create_app


@pytest.fixture
def client(services: Services) -> testing.TestClient:
    return testing.TestClient(create_app(services))
