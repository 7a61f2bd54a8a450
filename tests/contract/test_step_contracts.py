"""The built-in extractors pass the step contract plugin authors' extractors are held to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assets_registry.adapters.extractors import FrontMatterExtractor, GgufExtractor, SafetensorsExtractor
from assets_registry.testing import ExtractorContract
from tests.unit.test_extractors import gguf_bytes, safetensors_bytes


class TestSafetensors(ExtractorContract):
    @pytest.fixture
    def extractor(self) -> Any:
        return SafetensorsExtractor()

    @pytest.fixture
    def sample_file(self) -> tuple[str, bytes]:
        return "weights/model.safetensors", safetensors_bytes()


class TestGguf(ExtractorContract):
    @pytest.fixture
    def extractor(self) -> Any:
        return GgufExtractor()

    @pytest.fixture
    def sample_file(self, tmp_path: Path) -> tuple[str, bytes]:
        return "model.gguf", gguf_bytes(tmp_path)


class TestFrontMatter(ExtractorContract):
    @pytest.fixture
    def extractor(self) -> Any:
        return FrontMatterExtractor()

    @pytest.fixture
    def sample_file(self) -> tuple[str, bytes]:
        return "docs/card.md", b"---\ntitle: A model card\nlicense: mit\n---\n# Card\n"
