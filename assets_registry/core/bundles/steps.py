"""The steps an ingested asset's files go through, and which of them an ingest runs.

The Asset Store's order: mutate, validate, extract metadata, register. The plugins' steps
(their mutators, file validators and extractors) run on every ingest; the configured
webhook services run on every ingest (``always``) or where an upload names them
(``POST /zip/upload?services=a,b``). ``StepCatalog.steps`` picks them for one ingest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from assets_registry.core.bundles.describe import BatchDescriber, Describer, stored_files
from assets_registry.core.bundles.mutate import Reshaper
from assets_registry.core.errors import InvalidInput, StepRefused
from assets_registry.core.ports import BlobStore, Document, FileContent

KINDS = ("validation", "mutation", "metadata")


class Checker(Protocol):
    """A file validator as the registry holds it (a plugin's, guarded, or a validation service)."""

    name: str

    def matches(self, path: str) -> bool: ...
    def validate_file(self, file: FileContent) -> list[str]: ...


class Service(Protocol):
    """A configured webhook service: by ``kind`` a ``Checker``, a ``Reshaper`` or a ``BatchDescriber``."""

    name: str
    kind: str
    always: bool


class UnknownService(InvalidInput):
    code = "unknown_service"


@dataclass(frozen=True)
class Steps:
    """The steps of one ingest, each list in the order it runs."""

    mutators: Sequence[Reshaper] = ()
    checkers: Sequence[Checker] = ()
    describers: Sequence[Describer] = ()
    batches: Sequence[BatchDescriber] = ()


class StepCatalog:
    """The plugins' steps and the configured services, by name."""

    def __init__(self, plugins: Steps | None = None, services: Sequence[Service] = ()) -> None:
        self.plugins = plugins or Steps()
        self.services = {service.name: service for service in services}

    def names(self) -> tuple[str, ...]:
        """The webhook services configured, by name."""
        return tuple(self.services)

    def check_names(self, names: Sequence[str]) -> None:
        """Raise ``UnknownService`` naming what is not configured (before an upload is read)."""
        unknown = [name for name in names if name not in self.services]
        if unknown:
            known = ", ".join(sorted(self.services)) or "none is configured"
            raise UnknownService(
                f"No webhook service is called {', '.join(map(repr, unknown))} (the configured ones: {known})."
            )

    def steps(self, named: Sequence[str] = ()) -> Steps:
        """The plugins' steps, then the ``always`` services in configuration order, then those named."""
        chosen = [name for name, service in self.services.items() if service.always]
        chosen += [name for name in dict.fromkeys(named) if name in self.services and name not in chosen]
        of_kind: dict[str, list[Any]] = {kind: [] for kind in KINDS}
        for name in chosen:
            of_kind[self.services[name].kind].append(self.services[name])
        return Steps(
            mutators=[*self.plugins.mutators, *of_kind["mutation"]],
            checkers=[*self.plugins.checkers, *of_kind["validation"]],
            describers=self.plugins.describers,
            batches=[*self.plugins.batches, *of_kind["metadata"]],
        )

    def most_mutation_steps(self) -> int:
        """How many mutators one ingest can run at most (each writes its copies under ``~<step>``)."""
        return len(self.plugins.mutators) + sum(1 for s in self.services.values() if s.kind == "mutation")

    def gone(self, named: Sequence[str]) -> list[str]:
        """Those of the names an upload gave that are no longer configured."""
        return [name for name in named if name not in self.services]


def check_files(
    document: Document, blobs: BlobStore, checkers: Sequence[Checker], tick: Callable[[], None] = lambda: None
) -> None:
    """Ask every file validator about every file it matches; raise one ``StepRefused`` listing
    every refusal (a failing service stops at once: its error is not a refusal)."""
    refusals: list[StepRefused] = []
    for _entry, stored in stored_files(document, blobs, tick):
        for checker in checkers:
            if checker.matches(stored.path):
                for message in checker.validate_file(stored):
                    refusals.append(StepRefused("validation_failed", checker.name, stored.path, message))
    if refusals:
        raise StepRefused.joined(refusals)
