"""The hooks of the Assets Registry: the whole contract between it and its plugins.

Each hook is a bodiless, typed function; a plugin implements it by defining a function of
the same name marked with ``assets_registry.plugins.hookimpl``. Hooks are called once, at
start-up, by the composition root (``assets_registry.apps``) through
``assets_registry.plugins.manager.Plugins``; nothing calls ``pm.hook`` directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

from assets_registry.plugins import PROJECT_NAME

if TYPE_CHECKING:
    from assets_registry.core.ports import MetadataExtractor, Mutator, Validator
    from assets_registry.plugins.types import AdapterSpec

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def assets_registry_adapters() -> Sequence[AdapterSpec]:
    """Offer adapters for the registry's ports, each keyed by the URL scheme it serves.

    :return: The adapters this plugin provides, e.g.
        ``[AdapterSpec(port="blobs", scheme="s3", factory=make_s3_store, summary="...")]``.
        ``factory`` receives an ``AdapterContext`` and returns an object implementing the
        port (``core.ports.MetadataStore``, ``BlobStore`` or ``JobTracker``).

    Called once when the plugins are loaded. The answers of all plugins are collected; two
    plugins offering the same scheme for the same port stop start-up, naming both.
    An operator picks an adapter by URL (``ASSETS_BLOBS_URL=s3://bucket?...``).
    """


@hookspec
def assets_registry_validators(options: dict[str, object]) -> Sequence[Validator]:
    """Provide validators that every asset must pass before it is stored.

    :param options: The ``[validators]`` table of the configuration file (empty if none),
        so a validator can read its own settings from ``options.get("my_validator")``.
    :return: Validators (``core.ports.Validator``); an empty sequence to add none.

    Called once per process when the registry is built. Every validator of every plugin
    runs on every create, update and ZIP ingest; their problems are reported together.
    """


@hookspec
def assets_registry_metadata_extractors(options: dict[str, object]) -> Sequence[MetadataExtractor]:
    """Provide metadata extractors: each describes the files whose path it matches.

    :param options: The ``[validators]`` table of the configuration file, as for validators.
    :return: Extractors (``core.ports.MetadataExtractor``); an empty sequence to add none.

    Called once per process when the registry is built. During every ZIP ingest, after the
    files are stored and the asset validated, each extractor whose ``paths`` (RE2) matches a
    file's id reads that file by ranges and returns a JSON object merged into the file's
    ``asset_file_metadata``. An extractor that raises fails the job with
    ``failed: plugin_failed: <plugin>: <message>``.
    """


@hookspec
def assets_registry_mutators(options: dict[str, object]) -> Sequence[Mutator]:
    """Provide mutators: each may remake the files whose path it matches, before validation.

    :param options: The ``[validators]`` table of the configuration file, as for validators.
    :return: Mutators (``core.ports.Mutator``); an empty sequence to add none.

    Called once per process. During every ZIP ingest, after the files are stored, each
    mutator whose ``paths`` (RE2) matches a file's id reads it by ranges and returns its
    replacement as chunks (or None): the replacement is stored and the file's URL, size and
    digests follow it. Then the asset is validated, described and registered. A mutator
    that raises fails the job with ``failed: plugin_failed: <plugin>: <message>``.
    """
