"""Blob keys grouped by folder, for stores that answer many keys at once from listings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from assets_registry.core.errors import BlobNotFound
from assets_registry.core.ports import BlobInfo

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


def missing_by_listing(
    keys: Sequence[str],
    name_of: Callable[[str], str],
    stat: Callable[[str], BlobInfo],
    listed: Callable[[str, str, str], set[str]],
) -> list[str]:
    """``BlobStore.missing`` for stores of named objects that list folders in name order (S3, Swift).

    ``name_of`` gives a key's object name (checking the key), ``listed(folder, first, last)``
    the object names directly in ``folder`` from ``first`` to ``last`` (it may give more). A
    folder with more than ``FEW`` of the keys is listed; fewer are looked up one by one.
    """
    gone: set[str] = set()
    for keys_here in by_folder(keys).values():
        names = {name_of(key): key for key in keys_here}
        if len(keys_here) <= FEW:
            gone.update(key for key in keys_here if not blob_exists(stat, key))
            continue
        first, last = min(names), max(names)
        present = listed(first[: first.rfind("/") + 1], first, last)
        gone.update(key for name, key in names.items() if name not in present)
    return [key for key in dict.fromkeys(keys) if key in gone]


def blob_exists(stat: Callable[[str], BlobInfo], key: str) -> bool:
    """Whether ``stat`` finds the blob (``BlobNotFound`` means no)."""
    try:
        stat(key)
    except BlobNotFound:
        return False
    return True
