"""The ``mongodb`` plugin (being written: offers no adapter yet)."""

from __future__ import annotations

from assets_registry.plugins import AdapterSpec, hookimpl


@hookimpl
def assets_registry_adapters() -> list[AdapterSpec]:
    return []
