"""Search latency over many assets on the embedded default, next to document-by-document evaluation.

It loads ``--assets`` assets (``bench/corpus.py``; default 100,000) into a fresh registry,
starts ``assets-registry serve`` (one process), and times each search below as a client sees
it: ``POST /query/search?limit=20`` over a kept-alive connection, ``--repeat`` times (median and
slowest). The reference is what a search cost before the index: the same filter evaluated in
Python on every stored document, in id order, until the page is full (timed once, in this
process, on the same file). It prints one Markdown table row per search; nothing is asserted.

    .venv/bin/python bench/search_scale.py                       # 100,000 assets
    .venv/bin/python bench/search_scale.py --assets 1000000 --no-reference
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import corpus  # bench/corpus.py: the script's folder is on sys.path
import msgspec
from queries import free_port, start, stop

from assets_registry.core.filters import compile_filter


def searches(count: int) -> list[tuple[str, dict[str, Any]]]:
    """Each search's name and filter: answers everywhere, or a few far apart (the hard case)."""
    last = f"{corpus.asset_id(count - 1)[:-3]}[0-9]{{2}}7$"  # the last thousand ids: about ten answers
    return [
        ("equality, answers everywhere (1 in 5)", {"asset_version": "v2"}),
        ("equality, few answers (1 in 10,000)", {"asset_version": "v9"}),
        ("two equalities (1 in 50)", {"profiles.asset_type": "tool", "asset_version": "v3"}),
        ("$gt on a metadata number, 10 answers at the end", {"profiles.asset_metadata.downloads": {"$gt": count - 11}}),
        (
            "$in on tags + a range",
            {"profiles.asset_tags": {"$in": ["tag-5", "tag-6"]}, "profiles.asset_metadata.params_b": {"$lt": 100}},
        ),
        ("$regex on asset_uri, answers everywhere", {"asset_uri": {"$regex": "[0-9]{3}7$"}}),
        ("$regex on asset_uri, few answers at the end", {"asset_uri": {"$regex": last}}),
        ("$regex on a rare field", {"asset_brief_description": {"$regex": "^needle"}}),
        ("$or of equalities", {"$or": [{"profiles.asset_sub_type": "sub-7"}, {"apis.asset_api_route": "/api/r9"}]}),
        (
            "$elemMatch, no answer",
            {"profiles": {"$elemMatch": {"asset_type": "model", "asset_metadata.family": "family-3"}}},
        ),
        ("negation only ($nin, no answer)", {"asset_version": {"$nin": ["v0", "v1", "v2", "v3", "v4", "v9"]}}),
    ]


LIMIT = 20


def search(conn: http.client.HTTPConnection, document: dict[str, Any]) -> tuple[float, int]:
    body = json.dumps(document).encode()
    started = time.perf_counter()
    conn.request("POST", f"/query/search?limit={LIMIT}", body=body, headers={"Content-Type": "application/json"})
    answer = conn.getresponse()
    data = answer.read()
    seconds = time.perf_counter() - started
    if answer.status != 200:
        raise SystemExit(f"the search answered {answer.status}: {data[:300]!r}")
    return seconds, len(json.loads(data))


def evaluated(database: Path, document: dict[str, Any]) -> float:
    """The reference: every document decoded and evaluated in id order until the page is full."""
    flt = compile_filter(document)
    started = time.perf_counter()
    found = 0
    with sqlite3.connect(database) as conn:
        for (text,) in conn.execute("SELECT document FROM assets ORDER BY asset_id"):
            if flt.matches(msgspec.json.decode(text)):
                found += 1
                if found > LIMIT:
                    break
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-reference", action="store_true", help="skip the document-by-document reference")
    parser.add_argument("--work-dir", type=Path, help="where the registry's files go (default: a temporary folder)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-search-", dir=args.work_dir))
    try:
        seconds = corpus.load(work / "data", args.assets)
        size = (work / "data" / "registry.db").stat().st_size
        print(f"loaded {args.assets:,} assets in {seconds:.0f} s ({size / 2**20:,.0f} MiB)", file=sys.stderr)
        port = free_port()
        server = start(["-m", "assets_registry", "serve", "--data-dir", str(work / "data"), "--bind",
                        f"127.0.0.1:{port}", "--workers", "1"], port, work / "registry.log")  # fmt: skip
        try:
            print(f"\n{args.assets:,} assets; POST /query/search?limit={LIMIT}, {args.repeat} times each\n")
            print("| search | answers | median | slowest | evaluated document by document | ratio |")
            print("|---|---|---|---|---|---|")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            for name, document in searches(args.assets):
                search(conn, document)  # once to warm the page cache
                times, answers = [], 0
                for _ in range(args.repeat):
                    took, answers = search(conn, document)
                    times.append(took)
                median = statistics.median(times)
                line = f"| {name} | {answers} | {median * 1000:.1f} ms | {max(times) * 1000:.1f} ms"
                if args.no_reference:
                    print(f"{line} | | |", flush=True)
                    continue
                reference = evaluated(work / "data" / "registry.db", document)
                print(f"{line} | {reference * 1000:,.0f} ms | {reference / median:,.0f}x faster |", flush=True)
        finally:
            stop(server)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(str(exc)) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
