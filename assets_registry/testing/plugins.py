"""A plugin's tests in isolation: its plugin alone in a plugin manager, or in a whole embedded registry.

Nothing else installed in the environment is loaded, so a broken neighbour plugin cannot
fail a plugin's tests, and what the tests see is what the registry would do with it.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dependency_injector import providers

from assets_registry.apps.container import Services, build_container
from assets_registry.apps.settings import load_settings
from assets_registry.plugins.manager import Plugins

BUILTINS = ("sqlite", "filesystem")
"""The embedded default's own plugins: the SQLite metadata store and job tracker, the file store."""


def isolated_plugins(*plugins: tuple[str, object]) -> Plugins:
    """A plugin manager holding only these ``(name, plugin)`` pairs: no entry points are read."""
    return Plugins.isolated(*plugins)


@contextlib.contextmanager
def embedded_registry(data_dir: Path, *plugins: tuple[str, object], **settings: Any) -> Iterator[Services]:
    """The registry on its embedded default plus these plugins, and nothing else installed.

    ``settings`` are the registry's settings (``blobs_url="acme://..."``, ``validators={...}``,
    ``services=[...]``); the data lives under ``data_dir``. Closed when the block ends.
    """
    builtins = [(name, importlib.import_module(f"assets_registry.adapters.{name}")) for name in BUILTINS]
    container = build_container(load_settings(data_dir=data_dir, **settings))
    container.plugins.override(providers.Object(Plugins.isolated(*builtins, *plugins)))
    services = container.services()
    try:
        yield services
    finally:
        services.close()
