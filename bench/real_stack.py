"""Start Redis, SecantusDB (MongoDB wire protocol) and SeaweedFS (S3) on loopback for the bench.

The same servers, started the same way, as the tests use (``tests/servers``); install them
once with ``.ci/install-servers`` and export what it prints. Prints the three backend
URLs as ``bundle_transfer.py`` options, then runs until interrupted:

    .venv/bin/python bench/real_stack.py          # in one terminal
    .venv/bin/python bench/bundle_transfer.py --metadata-url ... --blobs-url ... --jobs-url ...
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import find_binary, free_port, wait_until
from tests.servers.redis import start_redis_server
from tests.servers.seaweedfs import ACCESS_KEY, REGION, SECRET_KEY, VARIABLE, S3Server, WeedMini
from tests.servers.secantusdb import BINARY_VARIABLE


def start_secantusdb(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    import pymongo

    binary = find_binary(BINARY_VARIABLE, "secantusd-py")
    config = folder / "secantusd.toml"
    config.write_text("")
    port = free_port()
    command = [binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--storage-path", str(folder / "data"), "--log-level", "WARNING"]
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"mongodb://127.0.0.1:{port}"
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(url, serverSelectionTimeoutMS=500)
    wait_until(lambda: bool(client.admin.command("ping")), 60, f"SecantusDB on port {port}")
    client.close()
    return process, url


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    (root / "mongo").mkdir()
    redis = start_redis_server(root / "redis")
    mongo, mongo_url = start_secantusdb(root / "mongo")
    weed = WeedMini(binary=find_binary(VARIABLE, "weed"), root=root / "weed")
    (root / "weed").mkdir()
    weed.start()
    s3 = S3Server(weed.endpoint_url, ACCESS_KEY, SECRET_KEY, REGION, started_in=0)
    blobs_url = s3.blobs_url(bucket="bench", create_bucket="true")
    print(f"--metadata-url '{mongo_url}/bench' --blobs-url '{blobs_url}' --jobs-url '{redis.url}/0'", flush=True)
    stop = False

    def interrupted(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    try:
        while not stop:
            time.sleep(0.5)
    finally:
        weed.stop()
        mongo.terminate()
        mongo.wait(30)
        redis.stop()


if __name__ == "__main__":
    main()
