"""``serve`` under granian (the default ``http_server``): a Rust HTTP server in front of the WSGI app.

Why granian: the app answers a by-id lookup in about 35 µs of Python, while gunicorn's
threaded workers spent more than that parsing and writing HTTP (docs/performance.md). Granian
parses HTTP, keeps connections and streams bodies (both ways, with backpressure) outside the
GIL, and hands requests to ``threads`` blocking threads per process.

Granian listens on one address per server, so with several ``bind`` addresses ``serve`` forks
one granian server per address, each with ``workers`` processes, and forwards ``SIGTERM``,
``SIGINT`` (graceful stop) and ``SIGHUP`` (graceful restart of the processes) to them. Only the
first address's processes run the background work (upload jobs, sweeps, source controllers), so
the number of job threads does not grow with the addresses.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.util
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.server.mp import MPServer

from assets_registry.apps.logs import server_logging
from assets_registry.apps.metrics import process_ended
from assets_registry.apps.settings import Settings
from assets_registry.core.errors import ConfigurationError

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
LoadApp = Callable[[bool], WSGIApp]  # its argument: whether this process runs the background work
_FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP")
_LOOPBACK = frozenset({"127.0.0.1", "::1"})


def run(settings: Settings, load_app: LoadApp) -> None:
    """Serve every ``bind`` address until stopped; raise ``SystemExit`` if a server failed."""
    check_addresses(settings.bind)
    if len(settings.bind) == 1:
        _serve_one(settings, settings.bind[0], load_app, background=True)
        return
    children: dict[int, str] = {}
    signals = {getattr(signal, name) for name in _FORWARDED}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # none lost, none half-handled, while forking
    try:
        for index, bind in enumerate(settings.bind):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child's exit status tells the parent
                _serve_child(settings, bind, load_app, background=index == 0, signals=signals)
            children[pid] = bind
        _supervise(children)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)


def _serve_child(settings: Settings, bind: str, load_app: LoadApp, *, background: bool, signals: set[int]) -> None:
    """One address's server, in a process group of its own: a terminal's Ctrl-C (or a service
    manager's stop) reaches the supervisor only, which forwards it once, so no worker is
    stopped behind its server's back (granian counts that as a failure)."""
    code = 0
    try:
        os.setpgrp()
        for signum in signals:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
        _serve_one(settings, bind, load_app, background=background)
    except BaseException:  # the traceback is printed, the status says it failed
        import traceback

        traceback.print_exc()
        code = 1
    os._exit(code)


def check_addresses(binds: list[str]) -> None:
    """Refuse at once an address that cannot be listened on (in use, not this host's), before
    any server starts: the others would otherwise start and be stopped mid-start."""
    for bind in binds:
        host, _, port = bind.rpartition(":")
        host = host.strip("[]")
        try:
            infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
            with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(infos[0][4])
        except OSError as exc:
            raise ConfigurationError(f"serve cannot listen on {bind}: {exc.strerror or exc}.") from None


def _supervise(children: dict[int, str]) -> None:
    """Forward the stop and restart signals to every address's server; when one ends on its
    own, stop the others, and fail if any ended badly."""
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = stopping or signum != signal.SIGHUP
        for pid in children:
            _signal(pid, signum)

    for name in _FORWARDED:
        signal.signal(getattr(signal, name), forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {getattr(signal, name) for name in _FORWARDED})
    failed: list[str] = []
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        bind = children.pop(pid, None)
        if bind is None:
            continue
        if os.waitstatus_to_exitcode(status) != 0:
            failed.append(bind)
        if not stopping:  # one address stopped serving: do not go on half-served
            stopping = True
            for other in children:
                _signal(other, signal.SIGTERM)
    if failed:
        raise SystemExit(f"assets-registry: the server on {', '.join(failed)} failed; its log is above.")


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _serve_one(settings: Settings, bind: str, load_app: LoadApp, *, background: bool) -> None:
    host, _, port = bind.rpartition(":")

    def load() -> WSGIApp:
        """In each worker process, after its fork: its own services, its own connections."""
        pid = os.getpid()
        multiprocessing.util.Finalize(None, process_ended, args=(pid,), exitpriority=10)
        return trust_forwarded_proto(load_app(background))

    if multiprocessing.get_start_method(allow_none=True) != "fork":
        # granian spawns its workers with the default start method; only fork passes them the
        # loader (a closure over this process's settings) without pickling it
        multiprocessing.set_start_method("fork", force=True)
    server = MPServer(
        "assets_registry",  # granian's name for the app in its logs; the loader builds it
        address=host.strip("[]"),
        port=int(port),
        interface=Interfaces.WSGI,
        workers=settings.workers,
        blocking_threads=settings.threads,
        backpressure=settings.threads,  # as many requests as threads: the rest wait outside the GIL
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=30_000, keep_alive=True, max_buffer_size=64 << 10),
        log_dictconfig=server_logging(settings.log_format),
        log_access=False,  # the app writes its own access lines (apps.logs.RequestLog)
        respawn_failed_workers=True,
        workers_kill_timeout=30,  # a graceful stop waits this long for requests in flight
    )
    server.serve(target_loader=load, wrap_loader=False)
    sys.stdout.flush()


def trust_forwarded_proto(app: WSGIApp) -> WSGIApp:
    """``X-Forwarded-Proto`` from a proxy on this host sets the request's scheme (as gunicorn's
    default ``forwarded_allow_ips``), so file URLs and cookies say ``https`` behind TLS."""

    def scheme_aware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        proto = environ.get("HTTP_X_FORWARDED_PROTO")
        if proto in ("http", "https") and environ.get("REMOTE_ADDR") in _LOOPBACK:
            environ["wsgi.url_scheme"] = proto
        return app(environ, start_response)

    return scheme_aware
