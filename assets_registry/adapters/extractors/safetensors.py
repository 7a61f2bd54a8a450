"""safetensors: the header only (an 8-byte length, then JSON), never the tensors.

The format (https://huggingface.co/docs/safetensors) puts every tensor's dtype, shape and
offsets in a JSON header before the data, so a model of any size is described from its
first bytes. A header larger than ``MAX_HEADER`` (the format itself allows 100 MB) is left
undescribed rather than read.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import msgspec

from assets_registry.core.ports import FileContent

MAX_HEADER = 16 << 20


class SafetensorsExtractor:
    name = "safetensors"
    paths = r"\.safetensors$"

    def extract(self, file: FileContent) -> dict[str, Any] | None:
        prefix = file.read(0, 8)
        if len(prefix) < 8:
            return None
        (length,) = struct.unpack("<Q", prefix)
        if length > min(MAX_HEADER, file.size - 8):
            return None
        try:
            header = msgspec.json.decode(file.read(8, length))
        except msgspec.DecodeError:
            return None
        if not isinstance(header, dict):
            return None
        metadata = header.pop("__metadata__", None)
        tensors = [t for t in header.values() if isinstance(t, dict) and isinstance(t.get("shape"), list)]
        found: dict[str, Any] = {
            "format": "safetensors",
            "tensor_count": len(tensors),
            "dtypes": sorted({str(t.get("dtype")) for t in tensors}),
            "parameter_count": sum(math.prod(int(n) for n in t["shape"]) for t in tensors),
        }
        if isinstance(metadata, dict):
            found["safetensors_metadata"] = {str(k): str(v) for k, v in metadata.items()}
        return {"model": found}
