"""The built-in metadata extractors, on files written by the formats' own libraries (gguf, safetensors).

Each reads headers only: a counting ``FileContent`` shows how few bytes of a large model a
description costs. End to end, a ZIP upload's files carry what the extractors found.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from safetensors.numpy import save as save_safetensors

from assets_registry.adapters.extractors import FrontMatterExtractor, GgufExtractor, SafetensorsExtractor
from assets_registry.adapters.filesystem import FilesystemBlobStore
from assets_registry.adapters.sqlite import SqliteJobTracker, SqliteMetadataStore
from assets_registry.core.bundles import Bundles
from assets_registry.core.registry import Registry
from assets_registry.plugins.manager import Plugins
from assets_registry.testing import bundle_zip


class BytesFile:
    """A ``FileContent`` over bytes that counts what was read."""

    def __init__(self, data: bytes, path: str = "model.bin", size: int | None = None) -> None:
        self.data = data
        self.path = path
        self.size = len(data) if size is None else size
        self.bytes_read = 0

    def read(self, start: int, length: int) -> bytes:
        piece = self.data[start : start + length]
        self.bytes_read += len(piece)
        return piece

    def chunks(self) -> Iterator[bytes]:
        yield self.read(0, self.size)


def safetensors_bytes() -> bytes:
    tensors: dict[str, Any] = {
        "embed.weight": np.zeros((32, 8), dtype=np.float16),
        "head.bias": np.zeros((8,), dtype=np.float32),
    }
    return save_safetensors(tensors, metadata={"format": "pt", "license": "apache-2.0"})


def gguf_bytes(tmp_path: Path) -> bytes:
    path = tmp_path / "model.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(4096)
    writer.add_file_type(15)  # Q4_K_M
    writer.add_token_list([f"tok{n}" for n in range(2000)])  # an array, skipped
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((16, 32), dtype=np.float32))
    writer.add_tensor("output.weight", np.zeros((4, 32), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def test_safetensors_header_is_described_without_reading_the_tensors() -> None:
    data = safetensors_bytes()
    file = BytesFile(data + b"\0" * (50 << 20), "m.safetensors")  # as if 50 MiB of weights followed
    found = SafetensorsExtractor().extract(file)
    assert found == {
        "model": {
            "format": "safetensors",
            "tensor_count": 2,
            "dtypes": ["F16", "F32"],
            "parameter_count": 32 * 8 + 8,
            "safetensors_metadata": {"format": "pt", "license": "apache-2.0"},
        }
    }
    assert file.bytes_read <= struct.unpack("<Q", data[:8])[0] + 8


def test_gguf_header_is_described_and_its_arrays_skipped(tmp_path: Path) -> None:
    file = BytesFile(gguf_bytes(tmp_path), "m.gguf")
    found = GgufExtractor().extract(file)
    assert found is not None
    model = found["model"]
    assert (model["format"], model["architecture"], model["name"]) == ("gguf", "llama", "tiny-llama")
    assert model["context_length"] == 4096
    assert model["quantization"] == "Q4_K_M"
    assert model["tensor_count"] == 2
    assert model["parameter_count"] == 16 * 32 + 4 * 32
    assert model["tensor_types"] == {"F16": 1, "F32": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "---\ntitle: Tiny\ntags: [a, b]\ndate: 2024-05-06\n---\n# Body\n",
            {"title": "Tiny", "tags": ["a", "b"], "date": "2024-05-06"},
        ),
        ("# No front matter\n", None),
        ("---\n- a list\n---\n", None),
        ("---\nkey: [unclosed\n---\n", None),
        ("---\n!!python/object:os.system ls\n---\n", None),
    ],
    ids=["mapping", "none", "not-a-mapping", "bad-yaml", "unsafe-tag"],
)
def test_front_matter(text: str, expected: dict[str, Any] | None) -> None:
    found = FrontMatterExtractor().extract(BytesFile(text.encode(), "README.md"))
    assert found == (None if expected is None else {"front_matter": expected})


@pytest.mark.parametrize("junk", [b"", b"GGUF", b"\xff" * 64, b"GGUF\x03\x00\x00\x00" + b"\xff" * 40])
def test_junk_is_not_described_and_never_raises(junk: bytes) -> None:
    for extractor in (SafetensorsExtractor(), GgufExtractor()):
        assert extractor.extract(BytesFile(junk)) is None


def test_an_upload_carries_what_the_built_in_extractors_found(tmp_path: Path) -> None:
    store, jobs = SqliteMetadataStore(tmp_path / "registry.db"), SqliteJobTracker(tmp_path / "jobs.db")
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    extractors = Plugins.load().extractors({})
    bundles = Bundles(Registry(store), blobs, jobs, describers=extractors)
    files = {
        "weights/model.safetensors": safetensors_bytes(),
        "weights/model.gguf": gguf_bytes(tmp_path),
        "README.md": b"---\nlicense: mit\n---\n# Tiny\n",
        "data.bin": b"\0" * 100,
    }
    try:
        job = bundles.stage([bundle_zip("described", files)])
        bundles.run_next("w")
        assert bundles.status(job.upload_id).status == "success"
        metadata = {f["asset_file_id"]: f["asset_file_metadata"] for f in store.get("described").document["files"]}
        assert metadata["weights/model.safetensors"]["model"]["parameter_count"] == 264
        assert metadata["weights/model.gguf"]["model"]["quantization"] == "Q4_K_M"
        assert metadata["README.md"]["front_matter"] == {"license": "mit"}
        assert set(metadata["data.bin"]) == {"size", "sha256", "crc32", "modified"}
        assert metadata["README.md"]["size"] == len(files["README.md"]), "the registry's own keys are kept"
    finally:
        store.close()
        jobs.close()
