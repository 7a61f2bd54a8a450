"""What a plugin author imports: the ``hookimpl`` marker and the types hooks exchange.

A plugin is a module (or object) with functions marked ``@hookimpl`` and named after the
hooks in ``assets_registry.plugins.hookspecs``; it is found through the ``assets_registry``
entry-point group of its distribution, exactly as the built-in adapters are::

    [project.entry-points.assets_registry]
    my-plugin = "my_package.plugin"
"""

from __future__ import annotations

import pluggy

from assets_registry.plugins.types import AdapterContext, AdapterSpec, BackendURL, PortName

PROJECT_NAME = "assets_registry"
"""The pluggy project name, and the entry-point group plugins are registered under."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Mark a plugin's function as the implementation of the hook of the same name."""

__all__ = ["PROJECT_NAME", "AdapterContext", "AdapterSpec", "BackendURL", "PortName", "hookimpl"]
