"""A resumable upload cut at 90 % and resumed against another server process, next to a whole upload.

Starts ``assets-registry serve`` on two addresses (two granian servers: two processes on one
data dir), builds a bundle of ``--mib`` MiB that does not compress, then:

- sends it whole with ``POST /zip/upload`` (the reference: what a cut upload cost before);
- sends it over tus (``RegistryClient.upload_resumable``) to the first address, cut when 90 %
  is acknowledged, and resumes it against the second, counting the bytes the resume sends.

Prints the bytes and seconds of each part and the ratios (target: the resume sends ≤ 15 %)::

    .venv/bin/python bench/resume.py --mib 400
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
from bundle_transfer import free_port
from queries import start, stop

from assets_registry.client import RegistryClient
from assets_registry.client.resumable import ResumeBook
from assets_registry.testing import bundle_asset, write_bundle

MiB = 1 << 20


class _Cut(Exception):
    pass


def _report(size: int, whole: float, cut: float, resent: int, resumed: float) -> None:
    print(f"\nbundle of {size / MiB:,.0f} MiB; two server processes on one data dir\n")
    print("| transfer | bytes sent | seconds | share of the bundle |")
    print("|---|---|---|---|")
    print(f"| POST /zip/upload, whole, to success | {size:,} | {whole:.2f} | 100 % |")
    print(f"| tus to process 1, cut at 90 % | {size - resent:,} | {cut:.2f} | {(size - resent) / size:.1%} |")
    print(f"| tus resumed on process 2, to success | {resent:,} | {resumed:.2f} | "
          f"**{resent / size:.1%}** (target ≤ 15 %) |")  # fmt: skip
    print(f"\nresumed / whole upload: {resumed / whole:.2f}x the time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=400)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-resume-"))
    ports = [free_port(), free_port()]
    binds = [arg for port in ports for arg in ("--bind", f"127.0.0.1:{port}")]
    server = start(["-m", "assets_registry", "serve", "--data-dir", str(work / "data"), *binds, "--workers", "1"],
                   ports[0], work / "registry.log")  # fmt: skip
    try:
        bundle = work / "bundle.zip"
        data = os.urandom(args.mib * MiB)  # held once, to write the two bundles
        write_bundle(bundle, bundle_asset("whole"), {"weights.bin": data}, compression=zipfile.ZIP_STORED)
        size = bundle.stat().st_size
        first, second = (f"http://127.0.0.1:{port}" for port in ports)
        with RegistryClient(first, timeout=600) as client:
            started = time.perf_counter()
            client.wait(client.upload(bundle), timeout=600)
            whole = time.perf_counter() - started
        write_bundle(bundle, bundle_asset("resumed"), {"weights.bin": data}, compression=zipfile.ZIP_STORED)
        book = ResumeBook(work / "book.json")

        def cut_at_90(done: int, total: int | None) -> None:
            if done >= 0.9 * size:
                raise _Cut

        started = time.perf_counter()
        with RegistryClient(first, timeout=600) as client:
            begun = ResumeBook.fingerprint(str(client.http.base_url), bundle, "", "")
            with contextlib.suppress(_Cut):
                client.upload_resumable(bundle, progress=cut_at_90, book=book)
        cut = time.perf_counter() - started
        url = book.get(begun)
        assert url is not None
        sent: list[int] = []
        real_patch = httpx.Client.patch

        def counted(http: httpx.Client, target: str, **kwargs: Any) -> httpx.Response:
            sent.append(len(kwargs["content"]))
            return real_patch(http, target, **kwargs)

        httpx.Client.patch = counted  # type: ignore[method-assign]
        started = time.perf_counter()
        with RegistryClient(second, timeout=600) as client:  # the same upload, by its URL on the other process
            book.put(ResumeBook.fingerprint(str(client.http.base_url), bundle, "", ""), url.replace(first, second))
            status = client.wait(client.upload_resumable(bundle, book=book), timeout=600)
        resumed = time.perf_counter() - started
        httpx.Client.patch = real_patch  # type: ignore[method-assign]
        assert status.status == "success", status
        _report(size, whole, cut, sum(sent), resumed)
    finally:
        stop(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
