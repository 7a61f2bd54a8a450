"""Connections to the gateway, lent one call at a time, and its errors in the domain's words."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urlsplit

import swiftclient
from swiftclient.exceptions import ClientException
from urllib3.exceptions import HTTPError as Urllib3Error

from assets_registry.adapters.ceph.config import CephConfig
from assets_registry.core.errors import BackendUnavailable, BlobNotFound, RegistryError

BACKEND = "blob store (Ceph)"
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (OSError, Urllib3Error)
"""What a broken connection raises: requests' exceptions are ``OSError``s, a body cut short
raises urllib3's. Callers never run the source of an upload inside a client call, so an
``OSError`` caught around one is the network's, not the caller's."""

_AUTH_REFUSED = re.compile(r"unauthori[sz]ed|authorization failure", re.IGNORECASE)
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")
T = TypeVar("T")


class ConnectionPool:
    """``swiftclient.Connection`` objects, each used by one thread at a time.

    A connection is not thread-safe (its retry counter, token and HTTP session are shared
    state), so every call borrows one. Idle ones are kept for the next call; a new one starts
    with the last token seen, so only the first logs in.
    """

    def __init__(self, config: CephConfig, keep: int = 8) -> None:
        self.config = config
        self._kwargs = config.connection_kwargs()
        self._keep = keep
        self._idle: list[swiftclient.Connection] = []
        self._lock = threading.Lock()
        self._auth: tuple[str, str] | None = None
        self._closed = False

    def acquire(self) -> swiftclient.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            auth = self._auth
        kwargs = dict(self._kwargs)
        if auth is not None:
            kwargs.update(preauthurl=auth[0], preauthtoken=auth[1])
        return swiftclient.Connection(**kwargs)

    def release(self, connection: swiftclient.Connection, reusable: bool) -> None:
        """Keep a connection for the next call, or close it if it may be broken."""
        with self._lock:
            if reusable and connection.url and connection.token:
                self._auth = (connection.url, connection.token)
            if reusable and not self._closed and len(self._idle) < self._keep:
                self._idle.append(connection)
                return
        connection.close()

    @contextmanager
    def connection(self) -> Iterator[swiftclient.Connection]:
        connection = self.acquire()
        try:
            yield connection
        except ClientException:  # the gateway answered: the connection is fine
            self.release(connection, reusable=True)
            raise
        except BaseException:
            self.release(connection, reusable=False)
            raise
        self.release(connection, reusable=True)

    def call(self, operation: Callable[[swiftclient.Connection], T], key: str | None = None) -> T:
        """Run one client call; its errors come out as the domain's (``BlobNotFound`` for ``key``)."""
        try:
            with self.connection() as connection:
                return operation(connection)
        except (ClientException, *TRANSPORT_ERRORS) as exc:
            raise self.translate(exc, key) from exc

    def translate(self, exc: BaseException, key: str | None = None) -> RegistryError:
        """The domain's error for a client error; never names the key or token."""
        if not isinstance(exc, ClientException):
            return BackendUnavailable(BACKEND, f"cannot reach the gateway at {self._host}: {_reason(exc)}")
        status = exc.http_status
        if status == 404 and key is not None:
            return BlobNotFound(key)
        if status == 401 or (status is None and _AUTH_REFUSED.search(exc.msg or "")):
            return BackendUnavailable(
                BACKEND,
                f"the gateway at {self._host} refused the credentials of user {self.config.user!r}"
                f"{f' (HTTP {status})' if status else ''}; check the user and its key",
            )
        if status == 403:
            return BackendUnavailable(
                BACKEND, f"the gateway at {self._host} refused user {self.config.user!r} access (HTTP 403)"
            )
        if status == 404:
            return BackendUnavailable(
                BACKEND,
                f"the container {self.config.container!r} or {self.config.segments_container!r} does not exist; "
                "create it, or leave create_container=true",
            )
        if status is None:
            return BackendUnavailable(BACKEND, f"the gateway at {self._host} did not answer: {(exc.msg or '')[:200]}")
        return BackendUnavailable(BACKEND, f"the gateway at {self._host} answered HTTP {status} {exc.http_reason}")

    @property
    def _host(self) -> str:
        return urlsplit(self.config.auth_url).netloc

    def close(self) -> None:
        with self._lock:
            idle, self._idle, self._closed = self._idle, [], True
        for connection in idle:
            connection.close()


def _reason(exc: BaseException) -> str:
    """The short cause of a transport error (requests' messages run over several lines)."""
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found[0].strip()
    if "timed out" in text.lower() or "timeout" in type(exc).__name__.lower():
        return "timed out"
    return type(exc).__name__
