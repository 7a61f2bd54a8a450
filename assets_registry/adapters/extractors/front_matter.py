"""Front matter of Markdown files: the YAML between a leading ``---`` line and the next one.

As Rafter's front-matter service does: the mapping becomes the file's metadata (under
``front_matter``). Only the first ``MAX_BYTES`` are read; YAML is parsed with PyYAML's safe
loader (no tags that build objects), and anything but a mapping is ignored.
"""

from __future__ import annotations

import datetime
from typing import Any

import yaml

from assets_registry.core.ports import FileContent

MAX_BYTES = 64 << 10


class FrontMatterExtractor:
    name = "front_matter"
    paths = r"(?i)\.(md|markdown)$"

    def extract(self, file: FileContent) -> dict[str, Any] | None:
        head = file.read(0, MAX_BYTES)
        text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
        if not text.startswith("---"):
            return None
        lines = text.splitlines()
        if lines[0].strip() != "---":
            return None
        try:
            end = next(n for n, line in enumerate(lines[1:], 1) if line.strip() in ("---", "..."))
        except StopIteration:
            return None
        try:
            value = yaml.safe_load("\n".join(lines[1:end]))
        except yaml.YAMLError:
            return None
        if not isinstance(value, dict):
            return None
        return {"front_matter": _plain(value)}


def _plain(value: Any) -> Any:
    """YAML's dates and other scalars as JSON can hold them."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
