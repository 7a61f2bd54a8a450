"""Server memory under a flood of hostile requests: RSS before, during and after, side by side.

Starts ``assets-registry serve`` on the embedded default (the default two worker processes),
sends the generated hostile requests of the test suite (``tests/hostile/requests.py``), one
connection each, and prints the resident memory of the server's processes (master and
workers, ``VmRSS``) before, every ``--every`` requests, at the end and 30 s later, with the
count of answers that were a 5xx or none at all. It prints figures only; nothing is asserted.

    .venv/bin/python bench/hostile_flood.py --count 60000
    .venv/bin/python bench/hostile_flood.py --server-python /path/to/older/venv/bin/python   # side by side
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.hostile.requests import hostile_requests
from tests.hostile.test_hostile import send
from tests.served import free_port


def _parent(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def rss_mib(server: subprocess.Popen[bytes]) -> tuple[int, int]:
    """The summed VmRSS (MiB) of the server and its children, and how many processes that is."""
    children = [
        int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit() and _parent(entry) == server.pid
    ]
    total = 0
    for pid in [server.pid, *children]:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return total // 1024, 1 + len(children)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=30_000, help="hostile requests to send")
    parser.add_argument("--every", type=int, default=10_000, help="print RSS after this many")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--server-python",
        default=sys.executable,
        help="the Python whose assets_registry serves (an older install, to compare)",
    )
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(
            [
                args.server_python,
                "-m",
                "assets_registry",
                "serve",
                "--data-dir",
                data_dir,
                "--bind",
                f"127.0.0.1:{port}",
            ],
            cwd=data_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            time.sleep(2)
            print(f"before: {rss_mib(server)[0]} MiB in {rss_mib(server)[1]} processes")
            started, bad = time.monotonic(), 0
            for n, request in enumerate(hostile_requests(args.seed, args.count), 1):
                status, _headers, _body = send(f"http://127.0.0.1:{port}", request)
                bad += status == 0 or status >= 500
                if n % args.every == 0:
                    print(f"after {n:,} requests: {rss_mib(server)[0]} MiB")
            took = time.monotonic() - started
            print(f"{args.count:,} requests in {took:.1f} s; answered 5xx or not at all: {bad}")
            time.sleep(30)
            print(f"30 s later: {rss_mib(server)[0]} MiB")
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
