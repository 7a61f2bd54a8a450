"""Many valid asset documents, loaded straight into an embedded registry's SQLite file.

The benches of queries and search need tens of thousands to a million assets; creating them
through ``POST /assets`` would take longer than the measurements. They are built through the
model (``testing.documents``), so they are what the API would have stored, and loaded with the
store's own ``insert_many`` (its index terms too), before the server starts.

Asset ``n`` (``asset-0000042``) has: type ``TYPES[n % 10]``, sub-type ``sub-{n % 50}``, tags
``tag-{n % 100}`` and ``tag-{n % 7}x``, version ``v{n % 5}`` (but ``v9`` for one asset in
10,000, ``n % 10000 == 3``), one API route ``/api/r{n % 200}``, and numbers in its profile's
metadata: ``params_b = n % 1000`` and ``downloads = n``; one asset in 20,000
(``n % 20000 == 7``) has ``asset_brief_description`` ``"needle n"``. So searches can have
answers everywhere (a page fills at once) or only a few, far apart (every asset is passed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assets_registry.adapters.sqlite.metadata import SqliteMetadataStore
from assets_registry.testing.documents import asset_document

TYPES = ("model", "dataset", "config", "tool", "prompt", "pipeline", "notebook", "image", "adapter", "index")


def asset_id(n: int) -> str:
    return f"asset-{n:07d}"


def document(n: int) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if n % 20000 == 7:
        extra["asset_brief_description"] = f"needle {n}"
    made = asset_document(
        asset_id(n),
        asset_type=TYPES[n % 10],
        sub_type=f"sub-{n % 50}",
        tags=[f"tag-{n % 100}", f"tag-{n % 7}x"],
        routes=[f"/api/r{n % 200}"],
        version="v9" if n % 10000 == 3 else f"v{n % 5}",
        **extra,
    )
    made["profiles"][0]["asset_metadata"] = {"params_b": n % 1000, "downloads": n, "family": f"family-{n % 30}"}
    return made


def documents(count: int) -> Iterator[dict[str, Any]]:
    for n in range(count):
        yield document(n)


def load(data_dir: Path, count: int, batch: int = 5000) -> float:
    """Store ``count`` assets in ``data_dir``'s registry file; the seconds it took."""
    started = time.perf_counter()
    store = SqliteMetadataStore(data_dir / "registry.db")
    try:
        pending: list[dict[str, Any]] = []
        for made in documents(count):
            pending.append(made)
            if len(pending) == batch:
                store.insert_many(pending)
                pending = []
        if pending:
            store.insert_many(pending)
    finally:
        store.close()
    return time.perf_counter() - started
