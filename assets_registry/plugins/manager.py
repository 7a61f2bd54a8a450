"""Loading plugins and asking them for adapters and validators: the typed façade over pluggy.

Built-in adapters and third-party plugins are found the same way, through the
``assets_registry`` entry-point group. Start-up fails loudly, naming the plugin, when a
plugin cannot be imported, implements a hook that does not exist (``check_pending``),
claims a URL scheme another plugin already serves, or fails in a hook. The pluggy manager
stays inside ``Plugins``: callers ask typed questions (``make_adapter``, ``validators``,
``describe``), and a plugin's own tests load it alone with ``Plugins.isolated``.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast, overload

import pluggy

from assets_registry.core.errors import ConfigurationError, RegistryError
from assets_registry.core.history import HistoryStore
from assets_registry.core.ports import BlobStore, CatalogStore, JobTracker, MetadataStore, Validator
from assets_registry.plugins import PROJECT_NAME, hookspecs
from assets_registry.plugins.guards import (
    GuardedExtractor,
    GuardedMutator,
    GuardedValidator,
    PluginError,
    checked_extractors,
    checked_mutators,
    checked_specs,
    checked_validators,
    missing_members,
    unmarked_hooks,
)
from assets_registry.plugins.types import PORT_NAMES, AdapterContext, AdapterSpec, PortName

BLOCK_ENV = "ASSETS_DISABLE_PLUGINS"
"""Where an operator names plugins not to load (``ASSETS_DISABLE_PLUGINS=sqlite,my-plugin``).

Read by the settings (``Settings.disable_plugins``), never here: error messages name it."""
Adapter = MetadataStore | BlobStore | JobTracker | CatalogStore | HistoryStore
_T = TypeVar("_T")
_PORT_TYPES: dict[PortName, type] = {
    "metadata": MetadataStore,
    "blobs": BlobStore,
    "jobs": JobTracker,
    "catalog": CatalogStore,
    "history": HistoryStore,
}


@dataclass
class AdapterInfo:
    """One adapter as ``assets-registry plugins`` shows it: its URL scheme and query options."""

    port: PortName
    scheme: str
    summary: str
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class PluginInfo:
    """What ``assets-registry plugins`` shows about one loaded plugin.

    ``provides`` is the one-line list (``"blobs adapter file://"``, ``"validators"``);
    ``adapters`` and ``validators`` (the validators' names) are the detail behind it.
    """

    name: str
    version: str
    module: str
    provides: list[str] = field(default_factory=list)
    adapters: list[AdapterInfo] = field(default_factory=list)
    validators: list[str] = field(default_factory=list)
    extractors: list[str] = field(default_factory=list)
    mutators: list[str] = field(default_factory=list)
    error: str | None = None
    """Why the plugin could not load or answer (only when loaded ``tolerant``, for the listing)."""


class Plugins:
    """The loaded plugins, and the questions the registry asks them."""

    def __init__(
        self,
        pm: pluggy.PluginManager,
        versions: Mapping[str, str] | None = None,
        failures: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        """``failures`` (name -> (module, why)) makes the manager tolerant: a plugin that fails
        is recorded and left out instead of stopping everything (``assets-registry plugins``)."""
        self._pm = pm
        self._versions = dict(versions or {})
        self._tolerant = failures is not None
        self.failures: dict[str, tuple[str, str]] = dict(failures or {})
        self._adapters = self._collect_adapters()

    @classmethod
    def load(
        cls,
        *,
        entry_points: bool = True,
        blocked: Iterable[str] = (),
        extra: Iterable[tuple[str, object]] = (),
        tolerant: bool = False,
    ) -> Plugins:
        """Load the entry-point plugins (minus ``blocked``) and any ``(name, plugin)`` in ``extra``.

        A plugin that fails stops the load (``PluginError`` naming it), unless ``tolerant``:
        then it is left out and listed in ``failures``, so the others can still be shown.
        """
        pm = pluggy.PluginManager(PROJECT_NAME)
        pm.add_hookspecs(hookspecs)
        for name in blocked:
            pm.set_blocked(name)
        versions: dict[str, str] = {}
        failures: dict[str, tuple[str, str]] = {}
        if entry_points:
            for ep in importlib.metadata.entry_points(group=PROJECT_NAME):
                if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
                    continue
                versions[ep.name] = ep.dist.version if ep.dist else "?"
                try:
                    try:
                        plugin = ep.load()
                    except Exception as exc:
                        raise PluginError(f"The plugin {ep.name!r} ({ep.value}) failed to load: {exc!r}") from exc
                    _register(pm, plugin, ep.name)
                except PluginError as exc:
                    if not tolerant:
                        raise
                    failures[ep.name] = (ep.value, exc.message)
        for name, plugin in extra:
            _register(pm, plugin, name)
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            raise PluginError(f"The plugin {name!r} is not valid: {exc}") from exc
        return cls(pm, versions, failures if tolerant else None)

    @classmethod
    def isolated(cls, *plugins: tuple[str, object]) -> Plugins:
        """Only the given ``(name, plugin)`` pairs, no entry points: for a plugin's own tests."""
        return cls.load(entry_points=False, extra=plugins)

    def names(self) -> list[str]:
        """The loaded plugins' names, sorted (blocked ones are not loaded)."""
        return sorted(name for name, plugin in self._pm.list_name_plugin() if plugin is not None)

    def has(self, name: str) -> bool:
        """Whether a plugin of this name is loaded."""
        return self._pm.get_plugin(name) is not None

    def _collect_adapters(self) -> dict[tuple[PortName, str], tuple[str, AdapterSpec]]:
        found: dict[tuple[PortName, str], tuple[str, AdapterSpec]] = {}
        for impl in self._pm.hook.assets_registry_adapters.get_hookimpls():
            name = self._pm.get_name(impl.plugin) or repr(impl.plugin)
            try:
                try:
                    answer = impl.function()
                except Exception as exc:
                    raise PluginError(f"The plugin {name!r} failed to list its adapters: {exc!r}") from exc
                specs = checked_specs(name, answer)
            except PluginError as exc:
                if not self._tolerant:
                    raise
                self.failures[name] = (_module_of(impl.plugin), exc.message)
                continue
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

    @overload
    def make_adapter(self, port: Literal["metadata"], context: AdapterContext) -> MetadataStore: ...
    @overload
    def make_adapter(self, port: Literal["blobs"], context: AdapterContext) -> BlobStore: ...
    @overload
    def make_adapter(self, port: Literal["jobs"], context: AdapterContext) -> JobTracker: ...
    @overload
    def make_adapter(self, port: Literal["catalog"], context: AdapterContext) -> CatalogStore: ...
    @overload
    def make_adapter(self, port: Literal["history"], context: AdapterContext) -> HistoryStore: ...
    @overload
    def make_adapter(self, port: PortName, context: AdapterContext) -> Adapter: ...
    def make_adapter(self, port: PortName, context: AdapterContext) -> Adapter:
        """Build the adapter that serves ``context.url`` for ``port``, checked against the port.

        A factory's own ``RegistryError`` (a bad option, a server that does not answer) is
        passed on; anything else it raises is the plugin's fault and says so.
        """
        scheme = context.url.scheme
        spec = self.adapter_spec(port, scheme)
        name = self._adapters[(port, scheme)][0]
        try:
            adapter = spec.factory(context)
        except RegistryError:
            raise
        except Exception as exc:
            raise PluginError(f"The plugin {name!r} failed to build its {scheme}:// {port} adapter: {exc!r}") from exc
        if not isinstance(adapter, _PORT_TYPES[port]):
            lacking = missing_members(adapter, _PORT_TYPES[port])
            raise PluginError(
                f"The {scheme}:// adapter of the plugin {name!r} returned {type(adapter).__name__}, "
                f"which does not implement the {port} port" + (f": it lacks {', '.join(lacking)}." if lacking else ".")
            )
        return cast(Adapter, adapter)

    def validators(self, options: Mapping[str, object]) -> list[Validator]:
        """Every plugin's validators, in plugin registration order."""
        return [validator for found in self._validators_by_plugin(options).values() for validator in found]

    def extractors(self, options: Mapping[str, object]) -> list[GuardedExtractor]:
        """Every plugin's metadata extractors, in plugin registration order."""
        return [extractor for found in self._extractors_by_plugin(options).values() for extractor in found]

    def mutators(self, options: Mapping[str, object]) -> list[GuardedMutator]:
        """Every plugin's mutators, in plugin registration order."""
        return [mutator for found in self._mutators_by_plugin(options).values() for mutator in found]

    def _extractors_by_plugin(self, options: Mapping[str, object]) -> dict[str, list[GuardedExtractor]]:
        return self._asked("assets_registry_metadata_extractors", "extractors", checked_extractors, options)

    def _mutators_by_plugin(self, options: Mapping[str, object]) -> dict[str, list[GuardedMutator]]:
        return self._asked("assets_registry_mutators", "mutators", checked_mutators, options)

    def _asked(
        self, hook: str, what: str, checked: Callable[[str, Any], list[_T]], options: Mapping[str, object]
    ) -> dict[str, list[_T]]:
        """Each plugin's answer to an options hook, checked; a failure named (or, tolerant, noted)."""
        found: dict[str, list[_T]] = {}
        for impl in reversed(getattr(self._pm.hook, hook).get_hookimpls()):
            name = self._pm.get_name(impl.plugin) or repr(impl.plugin)
            try:
                try:
                    answer = impl.function(**_arguments(impl, options=dict(options)))
                except Exception as exc:
                    raise PluginError(f"The plugin {name!r} failed to provide its {what}: {exc!r}") from exc
                found[name] = checked(name, answer)
            except PluginError as exc:
                if not self._tolerant:
                    raise
                self.failures.setdefault(name, (_module_of(impl.plugin), exc.message))
        return found

    def _validators_by_plugin(self, options: Mapping[str, object]) -> dict[str, list[GuardedValidator]]:
        return self._asked("assets_registry_validators", "validators", checked_validators, options)

    def describe(self, validator_options: Mapping[str, object] | None = None) -> list[PluginInfo]:
        """Every loaded plugin with its version, its adapters and its validators' names.

        Validators are asked for with ``validator_options`` (the settings' ``validators``),
        as the registry would at start-up.
        """
        infos: dict[str, PluginInfo] = {}
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None:  # blocked: pluggy keeps the name to refuse it later
                continue
            infos[name] = PluginInfo(name, self._versions.get(name, "-"), _module_of(plugin))
        for (port, scheme), (name, spec) in sorted(self._adapters.items()):
            infos[name].provides.append(f"{port} adapter {scheme}://")
            infos[name].adapters.append(AdapterInfo(port, scheme, spec.summary, dict(spec.options)))
        for name, validators in self._validators_by_plugin(validator_options or {}).items():
            if name in infos:
                infos[name].provides.append("validators")
                infos[name].validators = [getattr(v, "name", type(v).__name__) for v in validators]
        for name, extractors in self._extractors_by_plugin(validator_options or {}).items():
            if name in infos:
                infos[name].provides.append("metadata extractors")
                infos[name].extractors = [e.name for e in extractors]
        for name, mutators in self._mutators_by_plugin(validator_options or {}).items():
            if name in infos:
                infos[name].provides.append("mutators")
                infos[name].mutators = [m.name for m in mutators]
        for name, (module, why) in self.failures.items():
            info = infos.setdefault(name, PluginInfo(name, self._versions.get(name, "-"), module))
            info.error = why
        return sorted(infos.values(), key=lambda i: i.name)


def _arguments(impl: pluggy.HookImpl, **offered: object) -> dict[str, object]:
    """What a hook implementation takes of the spec's arguments: pluggy lets it take fewer."""
    return {name: value for name, value in offered.items() if name in impl.argnames}


def _module_of(plugin: object) -> str:
    return str(getattr(plugin, "__name__", type(plugin).__name__))


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"The plugin {name!r} is not valid: {exc}") from exc
    unmarked_hooks(pm, plugin, name)


__all__ = ["BLOCK_ENV", "Adapter", "AdapterInfo", "PluginError", "PluginInfo", "Plugins"]
