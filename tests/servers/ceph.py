"""A real one-node Ceph cluster with a RADOS Gateway, for the ``ceph`` blob store's tests.

One monitor, one OSD keeping its data in RAM (``memstore``, capped) and one ``radosgw``, all
on loopback ports chosen at start, with every file under one scratch folder, as
``shared/notes/real-services.md`` describes. Started once per session, stopped by SIGKILL:
radosgw waits up to 120 s on SIGTERM, and memstore keeps nothing worth flushing.

Ready in ~3 s rather than ~17 s: radosgw creates its pools one monitor command at a time,
and each waited for the monitor's ``paxos propose interval`` (1 s by default, a batching
delay that a one-monitor test cluster does not need).

Binaries: ``$ASSETS_TEST_CEPH_BIN`` names the folder holding ``ceph-mon``, ``ceph-osd``,
``radosgw``, ``radosgw-admin``, ``monmaptool`` and ``ceph``; else they are found on PATH.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.servers import find_binary, free_port, unavailable, wait_until

BIN_VARIABLE = "ASSETS_TEST_CEPH_BIN"
BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")
SWIFT_USER = "ci:swift"
SWIFT_KEY = "assets-registry-ci-swift-key"
MEMSTORE_BYTES = 2 << 30

CONF = """\
[global]
fsid = {fsid}
mon host = v1:127.0.0.1:{mon_port}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
paxos propose interval = 0.05
paxos min wait = 0.01
osd class update on start = false
osd crush update on start = false
osd objectstore = memstore
memstore device bytes = {memstore_bytes}
run dir = {root}/run
admin socket = {root}/run/$cluster-$name.asok
pid file = {root}/run/$cluster-$name.pid
log file = {root}/log/$cluster-$name.log
mon data = {root}/mon/$cluster-$id
osd data = {root}/osd/$cluster-$id
rgw data = {root}/rgw/$cluster-$id

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
"""


def _binaries() -> dict[str, str]:
    """Each Ceph program, from ``$ASSETS_TEST_CEPH_BIN`` (a folder) or PATH."""
    folder = os.environ.get(BIN_VARIABLE)
    found: dict[str, str] = {}
    for name in BINARIES:
        if folder:
            path = os.path.join(folder, name)
            if not os.access(path, os.X_OK):
                unavailable(f"{BIN_VARIABLE}={folder} holds no executable {name}")
            found[name] = path
        else:
            found[name] = find_binary(BIN_VARIABLE, name)
    return found


def _die_with_parent() -> None:
    """Run in the daemon's child before exec: SIGKILL it if the test process dies (Linux).

    A test run killed hard must not leave a cluster holding 2 GiB of RAM behind.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class CephCluster:
    """The scratch folder, ports and daemons of one test cluster."""

    root: Path
    bins: dict[str, str]
    mon_port: int = field(default_factory=free_port)
    rgw_port: int = field(default_factory=free_port)
    daemons: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        while self.rgw_port == self.mon_port:  # two free ports, not the same one twice
            self.rgw_port = free_port()

    @property
    def conf(self) -> str:
        return str(self.root / "ceph.conf")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.rgw_port}"

    def run(self, name: str, *args: str, timeout: float = 60) -> str:
        """Run one Ceph command to completion; ``unavailable`` with its output if it fails."""
        command = [self.bins[name], "-c", self.conf, *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            unavailable(f"Ceph: {' '.join(command)} did not finish within {timeout:.0f} s {self.log_tails()}")
        if done.returncode != 0:
            unavailable(
                f"Ceph: {' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-800:]} {self.log_tails()}"
            )
        return done.stdout

    def spawn(self, name: str, *args: str) -> None:
        """Start a daemon in the foreground (``-f``) as our child, its output in ``log/``."""
        with open(self.root / "log" / f"{name}.out", "ab") as out:
            self.daemons[name] = subprocess.Popen(
                [self.bins[name], "-f", "-c", self.conf, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
            )

    def start(self) -> None:
        for folder in ("run", "log", "mon/ceph-a", "osd/ceph-0", "rgw/ceph-rgw.a"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        fsid = str(uuid.uuid4())
        Path(self.conf).write_text(
            CONF.format(
                fsid=fsid,
                mon_port=self.mon_port,
                rgw_port=self.rgw_port,
                root=self.root,
                memstore_bytes=MEMSTORE_BYTES,
            )
        )
        monmap = str(self.root / "monmap")
        self.run("monmaptool", "--create", "--addv", "a", f"[v1:127.0.0.1:{self.mon_port}]", "--fsid", fsid, monmap)
        self.run("ceph-mon", "--mkfs", "-i", "a", "--monmap", monmap)
        self.launch("ceph-mon", ["-i", "a"], self.mon_answers, "ceph-mon")
        osd_uuid = str(uuid.uuid4())
        osd_id = self.run("ceph", "--connect-timeout", "20", "osd", "new", osd_uuid).strip()
        (self.root / "osd" / f"ceph-{osd_id}").mkdir(parents=True, exist_ok=True)
        self.run("ceph-osd", "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
        # Placed by us, so that ceph-osd sends the monitor no command as it starts (see launch).
        self.run("ceph", "osd", "crush", "add", f"osd.{osd_id}", "1", "root=default")
        # radosgw creates pools as it starts; created before the OSD is up, their placement
        # groups wait for the monitor's next tick (5 s), so it starts once the OSD is up.
        self.launch("ceph-osd", ["-i", osd_id], self.osd_is_up, "ceph-osd")
        self.launch("radosgw", ["-n", "client.rgw.a"], self.gateway_answers, f"radosgw on {self.endpoint}")
        self.run("radosgw-admin", "user", "create", "--uid=ci", "--display-name=CI")
        self.run(
            "radosgw-admin",
            "subuser",
            "create",
            "--uid=ci",
            f"--subuser={SWIFT_USER}",
            "--access=full",
            "--key-type=swift",
            f"--secret={SWIFT_KEY}",
        )
        # The first container and object calls create the bucket pools: seconds, once.
        wait_until(self.swift_works, 60, f"the Swift API of radosgw on {self.endpoint}", self.log_tails)

    def launch(self, name: str, args: list[str], ready: Callable[[], bool], what: str, seconds: float = 60) -> None:
        """Start a daemon and wait until ``ready``; start it again if it exits on the way.

        With ``auth none``, ceph-osd could send the monitor a command (set its crush class
        or location) before it learnt the cluster's fsid, be refused ("wrong fsid") and exit:
        one start in three here. The conf turns those commands off (the OSD is placed in the
        crush map before it starts); the retry stays as a safety net.
        """
        for _attempt in range(3):
            self.spawn(name, *args)
            deadline = time.monotonic() + seconds
            while self.daemons[name].poll() is None:
                self.raise_if_a_daemon_died(but=name)
                with contextlib.suppress(Exception):  # not ready yet, whatever it says
                    if ready():
                        return
                if time.monotonic() > deadline:
                    unavailable(f"Ceph: {what} did not become ready within {seconds:.0f} s {self.log_tails()}")
                time.sleep(0.1)
        unavailable(f"Ceph: {name} exited three times while starting {self.log_tails()}")

    def ceph_json(self, *args: str) -> Any:
        command = [self.bins["ceph"], "-c", self.conf, "--connect-timeout", "5", *args, "--format", "json"]
        return json.loads(subprocess.run(command, capture_output=True, text=True, timeout=10, check=True).stdout)

    def mon_answers(self) -> bool:
        return bool(self.ceph_json("mon", "stat"))

    def osd_is_up(self) -> bool:
        return int(self.ceph_json("osd", "stat")["num_up_osds"]) >= 1

    def gateway_answers(self) -> bool:
        return httpx.get(self.endpoint + "/", timeout=2).status_code == 200

    def swift_works(self) -> bool:
        self.raise_if_a_daemon_died()
        auth = httpx.get(self.auth_url, headers={"X-Auth-User": SWIFT_USER, "X-Auth-Key": SWIFT_KEY}, timeout=10)
        if auth.status_code // 100 != 2:
            return False
        storage, token = auth.headers["X-Storage-Url"], auth.headers["X-Auth-Token"]
        for path in ("warm-up", "warm-up/object"):  # the first object creates the data pool
            if httpx.put(f"{storage}/{path}", headers={"X-Auth-Token": token}, content=b"x", timeout=30).is_error:
                return False
        return True

    @property
    def auth_url(self) -> str:
        return f"{self.endpoint}/auth/1.0"

    def raise_if_a_daemon_died(self, but: str = "") -> None:
        """``unavailable`` if a daemon (other than ``but``, being started) has exited."""
        for name, daemon in self.daemons.items():
            if name != but and daemon.poll() is not None:
                unavailable(f"Ceph: {name} exited with {daemon.returncode} {self.log_tails()}")

    def log_tails(self) -> str:
        """The last lines of every daemon's log, for the failure message."""
        tails = []
        for log in sorted((self.root / "log").glob("*")):
            with contextlib.suppress(OSError):
                lines = log.read_text(errors="replace").splitlines()[-12:]
                tails.append(f"--- {log.name}:\n" + "\n".join(lines))
        return ("\n" + "\n".join(tails)) if tails else ""

    def stop(self) -> None:
        """SIGKILL by PID: radosgw would wait up to 120 s on SIGTERM; memstore has nothing to save."""
        for daemon in reversed(self.daemons.values()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait()
        self.daemons.clear()


@dataclass(frozen=True)
class CephServer:
    """How tests reach the gateway's Swift API, and ``ceph://`` URLs onto it."""

    auth_url: str
    user: str
    key: str
    endpoint: str
    started_in: float

    def blobs_url(self, container: str | None = None, prefix: str = "", **options: str) -> str:
        """A ``ceph://`` URL for a fresh container (a new name unless one is given)."""
        name = container or f"t-{uuid.uuid4().hex[:16]}"
        query = urlencode({"auth_url": self.auth_url, "user": self.user, "key": self.key, **options})
        return f"ceph://{name}{'/' + prefix if prefix else ''}?{query}"


@pytest.fixture(scope="session")
def ceph_server() -> Iterator[CephServer]:
    """A one-node Ceph cluster with radosgw, started once per session, killed at its end."""
    bins = _binaries()
    root = Path(tempfile.mkdtemp(prefix="assets-ceph-"))  # short: admin sockets must fit 107 bytes
    cluster = CephCluster(root=root, bins=bins)
    started = time.monotonic()
    try:
        cluster.start()
        yield CephServer(
            auth_url=cluster.auth_url,
            user=SWIFT_USER,
            key=SWIFT_KEY,
            endpoint=cluster.endpoint,
            started_in=time.monotonic() - started,
        )
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
