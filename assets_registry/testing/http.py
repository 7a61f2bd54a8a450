"""The registry's HTTP API in-process: a falcon test client over ``create_app``, and its answers checked.

No socket and no server process: requests go straight into the WSGI app, so a test of a
route, a plugin or a validator runs in milliseconds. (``tests/served.py`` runs the real
server when a test needs one.)
"""

from __future__ import annotations

from typing import Any

from falcon import testing

from assets_registry.apps.container import Services
from assets_registry.apps.http import create_app
from assets_registry.testing.bundles import upload_form


def http_client(services: Services) -> testing.TestClient:
    """A client of the whole app (REST, query, GraphQL, ZIP routes) over ``services``."""
    return testing.TestClient(create_app(services))


def upload_bundle(client: testing.TestClient, bundle: bytes, field: str = "file") -> testing.Result:
    """``POST /zip/upload`` with ``bundle`` as the form's ``field``."""
    body, headers = upload_form(bundle, field)
    return client.simulate_post("/zip/upload", body=body, headers=headers)


def assert_problem(result: testing.Result, status: int, code: str) -> dict[str, Any]:
    """Check an error answer is a problem document of this status and code, with a sentence; return it."""
    assert result.status_code == status, result.text
    assert result.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = result.json
    assert body["code"] == code
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"].endswith((".", "?"))
    return body
