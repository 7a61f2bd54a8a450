"""The Asset Store tests' fixtures: a loopback site (``site``) and embedded stores (``make_store``)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from assets_registry.apps.container import Services, build_container
from assets_registry.apps.settings import load_settings
from tests.sources.kit import Store, _Quiet


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "site"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[Any]:
    built: list[Services] = []

    def make(**settings: Any) -> Store:
        settings.setdefault("sources_allow_private_networks", True)
        services = build_container(load_settings(data_dir=tmp_path / f"var{len(built)}", **settings)).services()
        built.append(services)
        return Store(services)

    yield make
    for services in built:
        services.close()
