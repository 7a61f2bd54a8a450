"""Throughput and memory of ZIP bundle upload and download, next to the physical reference.

For each bundle it starts a fresh ``assets-registry serve`` (one process, so its peak RSS is
one number), then measures:

- upload-to-success: from the first byte of ``POST /zip/upload`` to the job's ``success``;
- download: ``GET /zip/download/<id>`` streamed to a file;
- the reference: the same bytes copied straight through the blob store in this process,
  which is the least any registry must do: for the upload, ``put`` of every member's
  source file as its own blob; for the download, ``read`` of every stored blob into one
  output file. Per-object costs (an fsync per blob) are thus in both figures;
- the server's peak RSS (``VmHWM`` of its processes).

With ``--metadata-url``/``--blobs-url``/``--jobs-url`` the server runs on those backends
(MongoDB, S3, Redis...). When the blobs are on S3, the reference is raw boto3: the same
member files uploaded with ``upload_file`` and the stored blobs fetched with
``download_fileobj`` (s3transfer, multi-threaded), to and from the same S3 server.

Run from the repository root (the embedded default needs no server):

    .venv/bin/python bench/bundle_transfer.py                 # 2 GiB bundle + 10,000 x 1 KiB bundle
    .venv/bin/python bench/bundle_transfer.py --big-gib 0.5 1 2   # is memory flat as bundles grow?

A freshly booted virtual machine pays its hypervisor on the first touch of every page of
memory (measured here: ~340 MiB/s for first writes into the page cache, 1.6-5 GiB/s
afterwards), which a long-running server has long since paid; ``--warm-gib`` (default 8)
touches that much memory once before measuring, so the figures describe a server in its
steady state. The disk of a virtual machine is noisy (the same 2 GiB ``dd ... conv=fsync`` here took
1.1 s to 6.6 s), so every figure is the median of ``--repeat`` runs; each run measures the
reference right next to the real transfer, in alternating order, so that neither always
follows the other's writes. It prints measured figures only; nothing is
asserted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from assets_registry.adapters.filesystem import FilesystemBlobStore
from assets_registry.adapters.s3.config import S3Config, parse_s3_url
from assets_registry.adapters.s3.store import make_client
from assets_registry.plugins.types import BackendURL

MiB = 1 << 20
GiB = 1 << 30
CHUNK = MiB


@dataclass
class Result:
    name: str
    bundle_bytes: int
    upload_s: float
    download_s: float
    reference_put_s: float
    reference_read_s: float
    peak_rss: int

    def row(self) -> str:
        mib = self.bundle_bytes / MiB
        up, down = mib / self.upload_s, mib / self.download_s
        ref_up, ref_down = mib / self.reference_put_s, mib / self.reference_read_s
        return (
            f"| {self.name} | {mib:,.0f} MiB | {rate(up)} | {rate(ref_up)} | {up / ref_up:.2f}x "
            f"| {rate(down)} | {rate(ref_down)} | {down / ref_down:.2f}x | {self.peak_rss / MiB:,.0f} MiB |"
        )


def rate(mib_per_s: float) -> str:
    """MiB/s with enough digits to tell small rates apart."""
    return f"{mib_per_s:,.0f} MiB/s" if mib_per_s >= 10 else f"{mib_per_s:.2f} MiB/s"


HEADER = (
    "| bundle | size | upload-to-success | reference put | ratio "
    "| download | reference read | ratio | server peak RSS |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def random_bytes(total: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    block = rng.randbytes(CHUNK)
    sent = 0
    while sent < total:
        size = min(CHUNK, total - sent)
        # vary each chunk cheaply so no two chunks are equal (incompressible, like weights)
        yield rng.randbytes(16) + block[16:size] if size > 16 else block[:size]
        sent += size


def asset_json(asset_id: str) -> bytes:
    return json.dumps({
        "asset_id": asset_id, "asset_uri": f"models://bench/{asset_id}", "asset_version": "v1",
        "asset_profile_id": "p", "asset_file_ids": [],
        "profiles": [{"asset_profile_id": "p", "asset_type": "model", "asset_sub_type": "llm"}],
    }).encode()  # fmt: skip


def build_sources(folder: Path, members: list[tuple[str, int]]) -> list[Path]:
    """The bundle's files as they would sit on the uploader's disk."""
    paths = []
    for n, (name, size) in enumerate(members):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            for chunk in random_bytes(size, n):
                out.write(chunk)
        paths.append(path)
    return paths


def build_bundle(path: Path, asset_id: str, sources: Path, files: list[Path]) -> int:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        archive.writestr("asset.json", asset_json(asset_id))
        for file in files:
            archive.write(file, str(file.relative_to(sources)))
    return path.stat().st_size


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, data_dir: Path, backends: dict[str, str]) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETS_")} | backends
        self.process = subprocess.Popen(
            [sys.executable, "-m", "assets_registry", "serve", "--data-dir", str(data_dir),
             "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "4"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def request(self, method: str, path: str) -> tuple[int, bytes]:
        conn = self.connection()
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read()

    def peak_rss(self) -> int:
        """The largest VmHWM among the server's processes (master and workers)."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            pids += [int(p) for p in children.read_text().split()]
        peak = 0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        return peak

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def upload(server: Server, bundle: Path) -> str:
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{bundle.name}"\r\n'
            "Content-Type: application/zip\r\n\r\n").encode()  # fmt: skip
    tail = f"\r\n--{boundary}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        with open(bundle, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
        yield tail

    conn = server.connection()
    conn.request(
        "POST", "/zip/upload", body=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                 "Content-Length": str(len(head) + bundle.stat().st_size + len(tail))},
    )  # fmt: skip
    response = conn.getresponse()
    answer = json.loads(response.read())
    if response.status != 202:
        raise RuntimeError(f"upload refused: {answer}")
    upload_id = str(answer["upload_id"])
    while True:
        status = json.loads(server.request("GET", f"/zip/status/{upload_id}")[1])["status"]
        if status == "success":
            return upload_id
        if status.startswith("failed"):
            raise RuntimeError(status)
        time.sleep(0.01)


def download(server: Server, asset_id: str, target: Path) -> int:
    conn = server.connection()
    conn.request("GET", f"/zip/download/{asset_id}")
    response = conn.getresponse()
    size = 0
    buffer = bytearray(CHUNK)  # one buffer for the whole body: the client must not be what is measured
    view = memoryview(buffer)
    with open(target, "wb") as out:
        while received := response.readinto(buffer):
            out.write(view[:received])
            size += received
    if response.status != 200 or size != int(response.headers["Content-Length"]):
        raise RuntimeError(f"download failed: {response.status}, {size} bytes")
    return size


def file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


class Reference:
    """The physical reference: the same bytes straight through the blob store, in this process."""

    def __init__(self, blobs_url: str | None) -> None:
        self.s3: tuple[Any, S3Config] | None = None
        if blobs_url and blobs_url.startswith("s3:"):
            config = parse_s3_url(BackendURL(blobs_url), dict(os.environ))
            self.s3 = (make_client(config), config)

    def put(self, work: Path, sources: Path, files: list[Path]) -> float:
        """Seconds to put every member's source file (filesystem store, or raw boto3 on S3)."""
        started = time.perf_counter()
        if self.s3:
            client, config = self.s3
            for file in files:
                client.upload_file(
                    str(file), config.bucket, config.object_key(f"reference/{file.relative_to(sources)}")
                )
        else:
            store = FilesystemBlobStore(work / "reference")
            for file in files:
                store.put(str(file.relative_to(sources)), file_chunks(file))
        seconds = time.perf_counter() - started
        self.clear(work, "reference/")
        return seconds

    def read(self, work: Path, data_dir: Path) -> float:
        """Seconds to read every blob the server stored into one output file."""
        target = work / "reference-read.bin"
        if self.s3:
            client, config = self.s3
            keys = self._s3_keys(config.object_key("assets/"))
            started = time.perf_counter()
            with open(target, "wb") as out:
                for key in keys:
                    client.download_fileobj(config.bucket, key, out)
        else:
            served = FilesystemBlobStore(data_dir / "blobs")
            names = [
                str(p.relative_to(served.root)) for p in sorted((served.root / "assets").rglob("*")) if p.is_file()
            ]
            started = time.perf_counter()
            with open(target, "wb") as out:
                for name in names:
                    for chunk in served.read(name):
                        out.write(chunk)
        seconds = time.perf_counter() - started
        target.unlink()
        return seconds

    def _s3_keys(self, prefix: str) -> list[str]:
        assert self.s3 is not None
        client, config = self.s3
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=config.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def clear(self, work: Path, prefix: str) -> None:
        if self.s3:
            client, config = self.s3
            for key in self._s3_keys(config.object_key(prefix)):
                client.delete_object(Bucket=config.bucket, Key=key)
        elif (work / prefix.rstrip("/")).exists():
            shutil.rmtree(work / prefix.rstrip("/"))


def timed(action: Callable[[], object]) -> float:
    """Seconds of a transfer: the whole call, unless it measures itself (returns its seconds).

    The references time only their transfer, never the listing and clean-up around it (an
    earlier version timed those too, which made the many-files references look slower).
    """
    subprocess.run(["sync"], check=False)
    started = time.perf_counter()
    measured = action()
    return measured if isinstance(measured, float) else time.perf_counter() - started


def run(name: str, members: list[tuple[str, int]], work: Path, repeat: int, backends: dict[str, str]) -> Result:
    """``repeat`` runs; each pairs a transfer with its reference, in alternating order (ABBA)."""
    case = work / name
    case.mkdir()
    sources = case / "sources"
    files = build_sources(sources, members)
    bundle = case / "bundle.zip"
    size = build_bundle(bundle, name, sources, files)
    target = case / "download.zip"
    reference = Reference(backends.get("ASSETS_BLOBS_URL"))
    runs: list[tuple[float, float, float, float, int]] = []
    for n in range(repeat):
        data_dir = case / f"var-{n}"
        server = Server(data_dir, backends)
        order = (0, 1) if n % 2 == 0 else (1, 0)
        try:
            uploads = [partial(upload, server, bundle), partial(reference.put, case, sources, files)]
            up = {i: timed(uploads[i]) for i in order}
            downloads = [partial(download, server, name, target), partial(reference.read, case, data_dir)]
            down = {i: timed(downloads[i]) for i in order}
            peak = server.peak_rss()
            server.request("DELETE", f"/assets/{name}")  # the next run registers it again
        finally:
            server.stop()
        target.unlink()
        reference.clear(case, "assets/")
        shutil.rmtree(data_dir, ignore_errors=True)
        runs.append((up[0], down[0], up[1], down[1], peak))
    shutil.rmtree(case)
    medians = [statistics.median(column) for column in zip(*runs, strict=True)]
    return Result(name, size, *medians[:4], peak_rss=max(r[4] for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--big-gib",
        type=float,
        nargs="*",
        default=[2.0],
        help="sizes of the bundle with one large member (1.5 of 2 GiB) and 1,000 small ones",
    )
    parser.add_argument("--many", type=int, default=10_000, help="members of 1 KiB in the many-files bundle (0: skip)")
    parser.add_argument("--warm-gib", type=float, default=8.0, help="memory to touch once before measuring")
    parser.add_argument("--repeat", type=int, default=4, help="runs per bundle; figures are medians")
    for port in ("metadata", "blobs", "jobs"):
        parser.add_argument(f"--{port}-url", help=f"the server's {port} backend (default: the embedded one)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where to build bundles (default: a temp dir)")
    args = parser.parse_args()  # fmt: skip

    if args.warm_gib:
        started = time.perf_counter()
        touched = bytearray(int(args.warm_gib * GiB))
        del touched
        print(f"touched {args.warm_gib:g} GiB of memory once in {time.perf_counter() - started:.1f} s")
    backends = {
        f"ASSETS_{port.upper()}_URL": url
        for port in ("metadata", "blobs", "jobs")
        if (url := getattr(args, f"{port}_url"))
    }
    if backends:
        print("backends: " + ", ".join(str(BackendURL(url)) for url in backends.values()))
    work = Path(tempfile.mkdtemp(prefix="bundle-bench-", dir=args.work_dir))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, work dir on {work}\n")
    print(HEADER, flush=True)
    try:
        for gib in args.big_gib:
            total = int(gib * GiB)
            large = int(total * 0.75)
            small = (total - large) // 1000
            members = [("weights/model.safetensors", large)] + [(f"shards/part-{n:04}.bin", small) for n in range(1000)]
            print(run(f"big-{gib:g}GiB", members, work, args.repeat, backends).row(), flush=True)
        if args.many:
            members = [(f"files/{n // 100:03}/f{n:05}.txt", 1024) for n in range(args.many)]
            print(run(f"many-{args.many}x1KiB", members, work, args.repeat, backends).row(), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
