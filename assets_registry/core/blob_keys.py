"""Blob keys grouped by folder, for stores that answer many keys at once from listings."""

from __future__ import annotations

from collections.abc import Iterable

FEW = 3
"""Up to this many keys of one folder are asked about one by one rather than listed."""


def by_folder(keys: Iterable[str]) -> dict[str, list[str]]:
    """Each folder (``a/b/`` for ``a/b/c``, ``""`` at the top) and its keys, sorted, once each."""
    folders: dict[str, list[str]] = {}
    for key in dict.fromkeys(keys):
        folders.setdefault(key[: key.rfind("/") + 1], []).append(key)
    for names in folders.values():
        names.sort()
    return folders
