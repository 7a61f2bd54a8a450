"""Query serving under load: the registry next to a bare Falcon app under the same HTTP server.

It loads ``--assets`` assets (``bench/corpus.py``) into a fresh embedded registry, starts
``assets-registry serve`` on one loopback port with the given ``--workers``/``--threads`` (the
defaults: 2 and 8, as ``serve``'s), and records the answer of each measured request. Then it
starts a bare Falcon app that answers those same requests with those same bytes and nothing
else, under the same server with the same processes and threads (``apps.granian_server``, or
gunicorn with ``--http-server gunicorn``), and drives both with wrk (Debian's ``wrk``) at
``--connections`` connections for ``--seconds`` each, side by side:

- by-id: ``GET /query/by-id/asset-0000042``;
- by-type: ``GET /query/by-type/dataset?limit=20``;
- search: ``POST /query/search`` of ``{"profiles.asset_type": "tool", "asset_version": "v3"}``
  with ``limit=20``.

It prints one Markdown table row per request: requests per second and p99 latency of each,
and the registry's throughput as a ratio of the bare app's. Nothing is asserted; timings on a
shared virtual machine vary by about 25 % from run to run, which is why both are measured in
one run, one right after the other.

    .venv/bin/python bench/queries.py
    .venv/bin/python bench/queries.py --http-server gunicorn --seconds 5
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import corpus  # bench/corpus.py: the script's folder is on sys.path
from bundle_transfer import free_port

SEARCH = {"profiles.asset_type": "tool", "asset_version": "v3"}


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    path: str
    body: bytes = b""


def probes() -> list[Probe]:
    return [
        Probe("by-id", "GET", f"/query/by-id/{corpus.asset_id(42)}"),
        Probe("by-type", "GET", "/query/by-type/dataset?limit=20"),
        Probe("search", "POST", "/query/search?limit=20", json.dumps(SEARCH).encode()),
    ]


def request(port: int, probe: Probe) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"} if probe.body else {}
    conn.request(probe.method, probe.path, body=probe.body or None, headers=headers)
    answer = conn.getresponse()
    return answer.status, answer.read()


def wait_until_up(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            request(port, Probe("up", "GET", "/healthz"))
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start within 60 s")


def start(args: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETS_")}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_until_up(port, process)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def wrk(port: int, probe: Probe, connections: int, seconds: float, work: Path) -> tuple[float, float]:
    """Requests per second and p99 latency (ms) of wrk driving ``probe``."""
    script = work / f"{probe.name}.lua"
    script.write_text(
        f"wrk.method = {json.dumps(probe.method)}\n"
        f"wrk.body = {json.dumps(probe.body.decode())}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    out = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}{probe.path}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in out:
        raise SystemExit(f"wrk saw errors on {probe.name}:\n{out}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return rate, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def serve_bare(port: int, answers_file: Path, workers: int, threads: int, http_server: str) -> None:
    """The bare app: each recorded request's bytes, under the registry's own server set-up."""
    import falcon

    from assets_registry.apps import granian_server
    from assets_registry.apps.server import RegistryServer
    from assets_registry.apps.settings import Settings

    answers: dict[str, bytes] = {k: v.encode() for k, v in json.loads(answers_file.read_text()).items()}

    class Fixed:
        def on_get(self, req: Any, resp: Any, **_: str) -> None:
            resp.data, resp.content_type = answers[req.path], "application/json"

        def on_post(self, req: Any, resp: Any, **_: str) -> None:
            req.bounded_stream.read()
            resp.data, resp.content_type = answers[req.path], "application/json"

    def load(_background: bool = False) -> Any:
        app = falcon.App()
        for path in [*answers, "/healthz"]:
            answers.setdefault(path, b"{}")
            app.add_route(path, Fixed())
        return app

    settings = Settings(bind=[f"127.0.0.1:{port}"], workers=workers, threads=threads, http_server=http_server,
                        access_log=False)  # fmt: skip
    if http_server == "gunicorn":

        class Bare(RegistryServer):
            def load(self) -> Any:
                return load()

        Bare(settings).run()
    else:
        granian_server.run(settings, load)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--http-server", choices=["granian", "gunicorn"], default="granian")
    parser.add_argument("--bare", nargs=2, metavar=("PORT", "ANSWERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        serve_bare(int(args.bare[0]), Path(args.bare[1]), args.workers, args.threads, args.http_server)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="bench-queries-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    seconds = corpus.load(work / "data", args.assets)
    print(f"loaded {args.assets:,} assets in {seconds:.1f} s", file=sys.stderr)
    shape = ["--workers", str(args.workers), "--threads", str(args.threads), "--http-server", args.http_server]
    port = free_port()
    registry = start(["-m", "assets_registry", "serve", "--data-dir", str(work / "data"),
                      "--bind", f"127.0.0.1:{port}", *shape], port, work / "registry.log")  # fmt: skip
    answers: dict[str, str] = {}
    measured: dict[str, tuple[float, float]] = {}
    try:
        for probe in probes():
            status, body = request(port, probe)
            if status != 200:
                raise SystemExit(f"{probe.name} answered {status}: {body[:300]!r}")
            answers[probe.path.split("?")[0]] = body.decode()
            measured[probe.name] = wrk(port, probe, args.connections, args.seconds, work)
    finally:
        stop(registry)
    (work / "answers.json").write_text(json.dumps(answers))
    port = free_port()
    bare = start([__file__, "--bare", str(port), str(work / "answers.json"), *shape], port, work / "bare.log")
    try:
        print(f"\n{args.assets:,} assets; {args.http_server}, {args.workers} processes x {args.threads} threads; "
              f"wrk, {args.connections} connections, {args.seconds:g} s each\n")  # fmt: skip
        print("| request | registry req/s | registry p99 | bare Falcon req/s | bare p99 | ratio |")
        print("|---|---|---|---|---|---|")
        for probe in probes():
            rate, p99 = measured[probe.name]
            bare_rate, bare_p99 = wrk(port, probe, args.connections, args.seconds, work)
            print(f"| {probe.name} | {rate:,.0f} | {p99:.2f} ms | {bare_rate:,.0f} | {bare_p99:.2f} ms "
                  f"| {rate / bare_rate:.2f}x |", flush=True)  # fmt: skip
    finally:
        stop(bare)


if __name__ == "__main__":
    main()
