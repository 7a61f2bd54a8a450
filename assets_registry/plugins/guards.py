"""A plugin's faults are the plugin's: what it hands the registry is checked, and named when wrong.

A third party's code runs at start-up (hooks, adapter factories) and on every write
(validators). When it raises or answers in the wrong shape, the operator and the client must
learn which plugin it was, not read an anonymous 500 or a library's traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import pluggy
import re2

from assets_registry.core.errors import ConfigurationError, FieldError, InvalidInput, PluginFailed
from assets_registry.core.json_values import check_storable
from assets_registry.core.model import Asset
from assets_registry.core.ports import FileContent, FileValidator, MetadataExtractor, Mutator, Validator
from assets_registry.plugins.types import AdapterSpec

log = logging.getLogger("assets_registry.plugins")

HOOK_PREFIX = "assets_registry_"
_G = TypeVar("_G")


class PluginError(ConfigurationError):
    """A plugin failed at start-up: it could not load, or a hook or factory of it failed."""

    code = "plugin_error"


class _Filtered:
    """What extractors and mutators share: the plugin's object, its name, its RE2 path filter."""

    kind = "hook"

    def __init__(self, plugin: str, inner: Any) -> None:
        self.plugin = plugin
        self.inner = inner
        self.name = str(getattr(inner, "name", type(inner).__name__))
        pattern = str(getattr(inner, "paths", "") or "")
        try:
            self._paths = re2.compile(pattern) if pattern else None
        except re2.error as exc:
            raise PluginError(
                f"The plugin {plugin!r} gave its {self.kind} {self.name} a bad paths pattern: {exc}"
            ) from exc

    def matches(self, path: str) -> bool:
        return self._paths is None or self._paths.search(path) is not None

    def _failed(self, exc: Exception, path: str) -> PluginFailed:
        log.exception("%s %s of the plugin %r failed on %s", self.kind, self.name, self.plugin, path)
        return PluginFailed(self.plugin, f"its {self.kind} {self.name} raised {exc!r} on {path}")


class GuardedValidator(_Filtered):
    """A plugin's validator whose failures raise ``PluginFailed`` naming the plugin.

    One with a ``validate_file`` method also reads the files it matches (``checks_files``).
    """

    kind = "validator"
    inner: Validator

    @property
    def checks_files(self) -> bool:
        return callable(getattr(self.inner, "validate_file", None))

    def validate(self, asset: Asset) -> list[FieldError]:
        try:
            problems = self.inner.validate(asset)
        except Exception as exc:
            log.exception("validator %s of the plugin %r failed", self.name, self.plugin)
            raise PluginFailed(self.plugin, f"its validator {self.name} raised {exc!r}") from exc
        if not isinstance(problems, list | tuple) or not all(isinstance(p, FieldError) for p in problems):
            raise PluginFailed(
                self.plugin,
                f"its validator {self.name} returned {_shape(problems)}, not a list of FieldError "
                "(assets_registry.core.errors.FieldError)",
            )
        return list(problems)

    def validate_file(self, file: FileContent) -> list[str]:
        inner: FileValidator = self.inner  # type: ignore[assignment]
        try:
            refusals = inner.validate_file(file)
        except Exception as exc:
            raise self._failed(exc, file.path) from exc
        if not isinstance(refusals, list | tuple) or not all(isinstance(r, str) for r in refusals):
            what = f"its validator {self.name} returned {_shape(refusals)} for {file.path}, not a list of messages"
            raise PluginFailed(self.plugin, what)
        return list(refusals)


class GuardedExtractor(_Filtered):
    """A plugin's metadata extractor: its path filter compiled (RE2) once, its faults named."""

    kind = "extractor"
    inner: MetadataExtractor

    def extract(self, file: FileContent) -> dict[str, Any] | None:
        try:
            found = self.inner.extract(file)
        except Exception as exc:
            raise self._failed(exc, file.path) from exc
        if found is None:
            return None
        if not isinstance(found, dict):
            raise PluginFailed(self.plugin, f"its extractor {self.name} returned {_shape(found)}, not a JSON object")
        try:
            check_storable(found)
        except InvalidInput as exc:
            what = f"its extractor {self.name} returned what cannot be stored: {exc.message}"
            raise PluginFailed(self.plugin, what) from None
        return found


class GuardedMutator(_Filtered):
    """A plugin's mutator: its path filter compiled once, its faults (also mid-stream) named."""

    kind = "mutator"
    inner: Mutator

    def mutate(self, file: FileContent) -> Iterator[bytes] | None:
        try:
            chunks = self.inner.mutate(file)
        except Exception as exc:
            raise self._failed(exc, file.path) from exc
        if chunks is None:
            return None
        if isinstance(chunks, bytes | bytearray | str) or not isinstance(chunks, Iterable):
            raise PluginFailed(self.plugin, f"its mutator {self.name} returned {_shape(chunks)}, not chunks of bytes")
        return self._checked(chunks, file.path)

    def _checked(self, chunks: Iterable[bytes], path: str) -> Iterator[bytes]:
        try:
            for chunk in chunks:
                if not isinstance(chunk, bytes):
                    raise PluginFailed(
                        self.plugin, f"its mutator {self.name} gave {_shape(chunk)} for {path}, not bytes"
                    )
                yield chunk
        except PluginFailed:
            raise
        except Exception as exc:
            raise self._failed(exc, path) from exc


def _guarded(
    plugin: str, hook: str, answer: Any, what: str, method: str, lacking: str, wrap: Callable[[str, Any], _G]
) -> list[_G]:
    """A hook's answer that must be a list of objects with ``method``, each wrapped by its guard."""
    if answer is None:
        return []
    if not isinstance(answer, list | tuple):
        raise _wrong(plugin, hook, f"{_shape(answer)}, not a list of {what}")
    for item in answer:
        if not callable(getattr(item, method, None)):
            raise _wrong(plugin, hook, f"{_shape(item)}, which has no {lacking}")
    return [wrap(plugin, item) for item in answer]


def checked_validators(plugin: str, answer: Any) -> list[GuardedValidator]:
    """The validators hook's answer, each validator guarded."""
    hook = "assets_registry_validators"
    return _guarded(plugin, hook, answer, "validators", "validate", "validate(asset) method", GuardedValidator)


def checked_extractors(plugin: str, answer: Any) -> list[GuardedExtractor]:
    """The extractors hook's answer, each extractor guarded."""
    hook = "assets_registry_metadata_extractors"
    return _guarded(plugin, hook, answer, "extractors", "extract", "extract(file)", GuardedExtractor)


def checked_mutators(plugin: str, answer: Any) -> list[GuardedMutator]:
    """The mutators hook's answer, each mutator guarded."""
    hook = "assets_registry_mutators"
    return _guarded(plugin, hook, answer, "mutators", "mutate", "mutate(file)", GuardedMutator)


def checked_specs(plugin: str, answer: Any) -> list[AdapterSpec]:
    """The adapters hook's answer, which must be a list (or tuple) of ``AdapterSpec``."""
    if isinstance(answer, AdapterSpec):
        raise _wrong(plugin, "assets_registry_adapters", "one AdapterSpec, not a list of them: return [spec]")
    if answer is None:
        return []
    if not isinstance(answer, list | tuple):
        raise _wrong(plugin, "assets_registry_adapters", f"{_shape(answer)}, not a list of AdapterSpec")
    for item in answer:
        if not isinstance(item, AdapterSpec):
            raise _wrong(plugin, "assets_registry_adapters", f"a list holding {_shape(item)}, not only AdapterSpec")
    return list(answer)


def missing_members(adapter: object, port: type) -> list[str]:
    """The public methods of a port (a ``Protocol``) the adapter lacks, by name."""
    wanted = [name for name, value in vars(port).items() if not name.startswith("_") and callable(value)]
    return sorted(name for name in wanted if not callable(getattr(adapter, name, None)))


def unmarked_hooks(pm: pluggy.PluginManager, plugin: object, name: str) -> list[str]:
    """Functions named like a hook but not marked ``@hookimpl``: pluggy ignores them silently."""
    found = []
    for attribute in dir(plugin):
        hook_like = attribute.startswith(HOOK_PREFIX) and callable(getattr(plugin, attribute, None))
        if hook_like and pm.parse_hookimpl_opts(plugin, attribute) is None:
            found.append(attribute)
    for attribute in found:
        log.warning(
            "the plugin %r has a function %s that is not marked @hookimpl: it is ignored "
            "(decorate it with assets_registry.plugins.hookimpl)",
            name,
            attribute,
        )
    return found


def _wrong(plugin: str, hook: str, what: str) -> PluginError:
    return PluginError(f"The plugin {plugin!r} answered {hook} with {what}.")


def _shape(value: object) -> str:
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | dict):
        return f"a {type(value).__name__}"
    return f"{type(value).__name__} {value!r}"[:120]
