"""The four lookups on SecantusDB (MongoDB's wire protocol), as the store runs them, hinted and not,
next to the plain ``find`` a seed-faithful implementation sends (no sort, no paging).

5,000 assets (``--assets``), each lookup with 50 answers (1 in 100) and with answers everywhere;
the median of ``--repeat`` runs of the store's first page (``limit=1000``) and of the plain find.
Needs ``.ci/install-servers`` (``ASSETS_TEST_SECANTUSD``)::

    .venv/bin/python bench/mongo_lookups.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_stack import start_secantusdb

from assets_registry.adapters.mongodb.queries import DOCUMENT_FIELD
from assets_registry.adapters.mongodb.store import MongoMetadataStore
from assets_registry.core.lookups import Lookup
from assets_registry.testing.documents import asset_document


def _median(run: Callable[[], Any], repeat: int) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        found = len(run())
        times.append(time.perf_counter() - start)
    return statistics.median(times), found


def _first_page(store: MongoMetadataStore, lookup: Lookup, value: str) -> list[Any]:
    return store._lookup(lookup, value, 1000, None).documents


def _plain_find(store: MongoMetadataStore, query: dict[str, Any]) -> list[Any]:
    return store.collection.find(query).to_list()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    process, url = start_secantusdb(Path(tempfile.mkdtemp(prefix="bench-lookups-")))
    try:
        plain = MongoMetadataStore(f"{url}/bench")
        hinted = MongoMetadataStore(f"{url}/bench?lookup_hints=true")
        documents = []
        for n in range(args.assets):
            rare = n % 100 == 0
            documents.append(asset_document(
                f"a-{n:06}", asset_type="rare" if rare else "model", sub_type="few" if rare else "llm",
                tags=["needle" if rare else "hay"], routes=["/rare" if rare else "/common"],
            ))  # fmt: skip
        for document in documents:
            plain.insert(document)
        print(f"\n{args.assets:,} assets on SecantusDB; medians of {args.repeat}\n")
        print("| lookup | answers | store, unhinted (default) | store, lookup_hints=true | plain find | ratio |")
        print("|---|---|---|---|---|---|")
        for lookup, rare, common in (
            (Lookup.TYPE, "rare", "model"), (Lookup.SUB_TYPE, "few", "llm"),
            (Lookup.TAG, "needle", "hay"), (Lookup.API_ROUTE, "/rare", "/common"),
        ):  # fmt: skip
            for value in (rare, common):
                unhinted, answers = _median(partial(_first_page, plain, lookup, value), args.repeat)
                forced, _ = _median(partial(_first_page, hinted, lookup, value), args.repeat)
                query = {f"{DOCUMENT_FIELD}.{lookup.path}": value}
                reference, _ = _median(partial(_plain_find, plain, query), args.repeat)
                print(f"| {lookup.name.lower()} {value} | {answers} | {unhinted * 1000:.1f} ms "
                      f"| {forced * 1000:.1f} ms | {reference * 1000:.1f} ms | {reference / unhinted:.2f}x |",
                      flush=True)  # fmt: skip
        plain.close()
        hinted.close()
    finally:
        process.terminate()
        process.wait()


if __name__ == "__main__":
    main()
