"""GGUF (llama.cpp's model format): the header's key-values and tensor infos, never the weights.

The format (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md) puts metadata and
one small record per tensor before the data. They are read through a buffer of ranged
reads, at most ``MAX_BYTES`` in all (a large vocabulary is a few MiB of strings); arrays
are skipped, not kept. ``gguf``'s own reader was not used: it memory-maps a local file,
and a blob may be on S3 or Ceph.
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from typing import Any

from assets_registry.core.ports import FileContent

MAX_BYTES = 32 << 20
BUFFER = 1 << 20
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
}  # fmt: skip
"""``general.file_type``: how the model as a whole is quantized (llama.cpp's ``llama_ftype``)."""
TENSOR_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K",
    11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS",
    19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32",
    27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16",
}  # fmt: skip
KEPT = ("general.architecture", "general.name", "general.parameter_count", "general.quantization_version")


class _TooLong(Exception):
    pass


class _Reader:
    """Sequential reads over ranged ones, buffered, counted against ``MAX_BYTES``."""

    def __init__(self, file: FileContent) -> None:
        self.file = file
        self.position = 0
        self.buffer = b""
        self.buffered_at = 0

    def take(self, count: int) -> bytes:
        if self.position + count > min(self.file.size, MAX_BYTES):
            raise _TooLong
        start = self.position - self.buffered_at
        if start + count > len(self.buffer):
            self.buffer = self.file.read(self.position, max(count, BUFFER))
            self.buffered_at, start = self.position, 0
        self.position += count
        return self.buffer[start : start + count]

    def unpack(self, layout: str) -> Any:
        return struct.unpack(layout, self.take(struct.calcsize(layout)))[0]

    def string(self) -> str:
        return self.take(self.unpack("<Q")).decode("utf-8", errors="replace")

    def value(self, kind: int) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == STRING:
            return self.string()
        if kind == ARRAY:
            item, count = self.unpack("<I"), self.unpack("<Q")
            for _ in range(count):  # skipped: a vocabulary is of no use as metadata
                self.value(item)
            return None
        raise ValueError(f"unknown GGUF value type {kind}")


class GgufExtractor:
    name = "gguf"
    paths = r"\.gguf$"

    def extract(self, file: FileContent) -> dict[str, Any] | None:
        reader = _Reader(file)
        found: dict[str, Any] | None = None
        try:
            if reader.take(4) != b"GGUF":
                return None
            version = reader.unpack("<I")
            tensors, pairs = reader.unpack("<Q"), reader.unpack("<Q")
            values: dict[str, Any] = {}
            for _ in range(pairs):
                key = reader.string()
                values[key] = reader.value(reader.unpack("<I"))
            found = _described(version, tensors, values)
            parameters, types = 0, Counter[str]()
            for _ in range(tensors):
                reader.string()
                dims = [reader.unpack("<Q") for _ in range(reader.unpack("<I"))]
                types[TENSOR_TYPES.get(reader.unpack("<I"), "unknown")] += 1
                reader.unpack("<Q")  # the tensor's offset in the data
                parameters += math.prod(dims)
        except _TooLong:  # a header past what is read: what was found before it, if anything
            return {"model": found} if found is not None else None
        except (struct.error, ValueError):
            return None
        found["parameter_count"] = found.get("parameter_count") or parameters
        found["tensor_types"] = dict(sorted(types.items()))
        return {"model": found}


def _described(version: int, tensors: int, values: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {"format": "gguf", "gguf_version": version, "tensor_count": tensors}
    for key in KEPT:
        if values.get(key) is not None:
            found[key.removeprefix("general.")] = values[key]
    architecture = values.get("general.architecture")
    if isinstance(architecture, str) and values.get(f"{architecture}.context_length") is not None:
        found["context_length"] = values[f"{architecture}.context_length"]
    file_type = values.get("general.file_type")
    if isinstance(file_type, int):
        found["quantization"] = FILE_TYPES.get(file_type, f"file type {file_type}")
    return found
