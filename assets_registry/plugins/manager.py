"""Loading plugins and asking them for adapters and validators: the typed façade over pluggy.

Built-in adapters and third-party plugins are found the same way, through the
``assets_registry`` entry-point group. Start-up fails loudly, naming the plugin, when a
plugin cannot be imported, implements a hook that does not exist (``check_pending``), or
claims a URL scheme another plugin already serves.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pluggy

from assets_registry.core.errors import ConfigurationError
from assets_registry.core.ports import Validator
from assets_registry.plugins import PROJECT_NAME, hookspecs
from assets_registry.plugins.types import PORT_NAMES, AdapterContext, AdapterSpec, PortName

BLOCK_ENV = "ASSETS_DISABLE_PLUGINS"
"""Comma-separated plugin names not to load (``ASSETS_DISABLE_PLUGINS=sqlite,my-plugin``)."""


class PluginError(ConfigurationError):
    code = "plugin_error"


@dataclass
class PluginInfo:
    """What ``assets-registry plugins`` shows about one loaded plugin."""

    name: str
    version: str
    module: str
    provides: list[str] = field(default_factory=list)


class Plugins:
    """The loaded plugins, and the questions the registry asks them."""

    def __init__(self, pm: pluggy.PluginManager, versions: Mapping[str, str] | None = None) -> None:
        self.pm = pm
        self._versions = dict(versions or {})
        self._adapters = self._collect_adapters()

    @classmethod
    def load(
        cls,
        *,
        entry_points: bool = True,
        blocked: Iterable[str] = (),
        extra: Iterable[tuple[str, object]] = (),
    ) -> Plugins:
        """Load the entry-point plugins (minus ``blocked``) and any ``(name, plugin)`` in ``extra``."""
        pm = pluggy.PluginManager(PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        for name in blocked:
            pm.set_blocked(name)
        versions: dict[str, str] = {}
        if entry_points:
            for ep in importlib.metadata.entry_points(group=PROJECT_NAME):
                if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
                    continue
                try:
                    plugin = ep.load()
                except Exception as exc:
                    raise PluginError(f"The plugin {ep.name!r} ({ep.value}) failed to load: {exc!r}") from exc
                _register(pm, plugin, ep.name)
                versions[ep.name] = ep.dist.version if ep.dist else "?"
        for name, plugin in extra:
            _register(pm, plugin, name)
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            raise PluginError(f"The plugin {name!r} is not valid: {exc}") from exc
        return cls(pm, versions)

    def _collect_adapters(self) -> dict[tuple[PortName, str], tuple[str, AdapterSpec]]:
        found: dict[tuple[PortName, str], tuple[str, AdapterSpec]] = {}
        for impl in self.pm.hook.assets_registry_adapters.get_hookimpls():
            name = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            try:
                specs = cast(Sequence[AdapterSpec], impl.function() or ())
            except Exception as exc:
                raise PluginError(f"The plugin {name!r} failed to list its adapters: {exc!r}") from exc
            for spec in specs:
                if spec.port not in PORT_NAMES:
                    raise PluginError(f"The plugin {name!r} offers an adapter for an unknown port {spec.port!r}.")
                key = (spec.port, spec.scheme.lower())
                if key in found:
                    raise PluginError(
                        f"The plugins {found[key][0]!r} and {name!r} both offer the "
                        f"{spec.scheme!r} scheme for {spec.port}; disable one with {BLOCK_ENV}."
                    )
                found[key] = (name, spec)
        return found

    def schemes(self, port: PortName) -> list[str]:
        return sorted(scheme for (p, scheme) in self._adapters if p == port)

    def adapter_spec(self, port: PortName, scheme: str) -> AdapterSpec:
        try:
            return self._adapters[(port, scheme.lower())][1]
        except KeyError:
            known = ", ".join(f"{s}://" for s in self.schemes(port)) or "none"
            raise ConfigurationError(
                f"No plugin serves {scheme!r} URLs for {port}; the known schemes are: {known}."
            ) from None

    def make_adapter(self, port: PortName, context: AdapterContext) -> Any:
        """Build the adapter that serves ``context.url`` for ``port``."""
        return self.adapter_spec(port, context.url.scheme).factory(context)

    def validators(self, options: dict[str, object]) -> list[Validator]:
        results = self.pm.hook.assets_registry_validators(options=options)
        return [validator for result in results for validator in result]

    def describe(self) -> list[PluginInfo]:
        """Every loaded plugin with its version and what it provides."""
        infos: dict[str, PluginInfo] = {}
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:  # blocked: pluggy keeps the name to refuse it later
                continue
            module = getattr(plugin, "__name__", type(plugin).__name__)
            infos[name] = PluginInfo(name, self._versions.get(name, "-"), module)
        for (port, scheme), (name, _spec) in sorted(self._adapters.items()):
            infos[name].provides.append(f"{port} adapter {scheme}://")
        for impl in self.pm.hook.assets_registry_validators.get_hookimpls():
            name = self.pm.get_name(impl.plugin) or ""
            if name in infos:
                infos[name].provides.append("validators")
        return sorted(infos.values(), key=lambda i: i.name)


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"The plugin {name!r} is not valid: {exc}") from exc
