"""The built-in metadata extractors, as a plugin: safetensors, GGUF and Markdown front matter.

Each reads a file's header only, by ranged reads, so models of any size are described
without being loaded. Disable them all with ``disable_plugins = ["extractors"]``.
"""

from __future__ import annotations

from collections.abc import Sequence

from assets_registry.adapters.extractors.front_matter import FrontMatterExtractor
from assets_registry.adapters.extractors.gguf import GgufExtractor
from assets_registry.adapters.extractors.safetensors import SafetensorsExtractor
from assets_registry.core.ports import MetadataExtractor
from assets_registry.plugins import hookimpl


@hookimpl
def assets_registry_metadata_extractors(options: dict[str, object]) -> Sequence[MetadataExtractor]:
    return [SafetensorsExtractor(), GgufExtractor(), FrontMatterExtractor()]


__all__ = ["FrontMatterExtractor", "GgufExtractor", "SafetensorsExtractor"]
