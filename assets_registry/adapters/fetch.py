"""Fetching a source's URL over HTTP, refusing server-side request forgery.

Only ``http`` and ``https``; redirects followed by hand, at most ``max_redirects``, each
checked again; no proxy from the environment (a proxy would connect for us, unchecked). The
address check happens where the connection is made (``GuardedBackend.connect_tcp``, httpcore's
network backend): the host is resolved once, and only an address that is public (not
loopback, private, link-local, shared, multicast, reserved or unspecified; an IPv4-mapped
IPv6 address is judged by its IPv4) is connected to, so a name that resolves to an internal
address, or one that changes its answer between a check and a connect (DNS rebinding), is
refused all the same. ``allow_private`` lifts the address check (internal mirrors, tests).

Every wait is bounded (30 s, or less when the whole fetch's ``timeout`` is nearer), the
whole fetch by ``timeout``, the body by the caller's limit. Passwords in URLs are hidden in
every message.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from assets_registry.core.sources.fetch import FetchFailed
from assets_registry.plugins.types import BackendURL

WAIT_SECONDS = 30.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class AddressRefused(Exception):
    """Every address the host resolves to is one a source may not reach."""


def address_problem(address: str) -> str | None:
    """Why a source may not connect to this IP address, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified or ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "a private address"
    return None


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's sockets, connected only to addresses a source may reach."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        refused: list[str] = []
        for _family, _type, _proto, _name, sockaddr in found:
            address = str(sockaddr[0])
            problem = None if self.allow_private else address_problem(address)
            if problem:
                refused.append(f"{address} is {problem}")
                continue
            return super().connect_tcp(address, port, timeout, local_address, socket_options)
        raise AddressRefused(f"{host} resolves only to addresses sources may not reach ({'; '.join(refused)})")


class HttpFetcher:
    """``core.sources.fetch.Fetcher`` over httpx, one connection pool per process."""

    def __init__(self, allow_private: bool = False, timeout: float = 600.0, max_redirects: int = 5) -> None:
        self.timeout = timeout
        self.max_redirects = max_redirects
        transport = httpx.HTTPTransport(trust_env=False)
        transport._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(), network_backend=GuardedBackend(allow_private)
        )
        self._http = httpx.Client(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": "assets-registry-sources", "Accept-Encoding": "identity"},
        )

    @contextlib.contextmanager
    def open(self, url: str, limit: int) -> Iterator[_Body]:
        deadline = time.monotonic() + self.timeout
        shown = str(BackendURL(url))
        for _hop in range(self.max_redirects + 1):
            if urlsplit(url).scheme not in ("http", "https"):
                raise FetchFailed("url_refused", shown, "only http:// and https:// URLs are fetched")
            response = self._send(url, shown, deadline)
            if response.status_code in _REDIRECTS and "location" in response.headers:
                response.close()
                url = urljoin(url, response.headers["location"])
                shown = str(BackendURL(url))
                continue
            try:
                if response.status_code != 200:
                    raise FetchFailed("pulling_failed", shown, f"it answered HTTP {response.status_code}")
                body = _Body(response, url, shown, limit, deadline)
                if body.size is not None and body.size > limit:
                    raise FetchFailed(
                        "source_too_large", shown, f"it is {body.size} bytes; at most {limit} are accepted"
                    )
                yield body
            finally:
                response.close()
            return
        raise FetchFailed("pulling_failed", shown, f"it redirected more than {self.max_redirects} times")

    def _send(self, url: str, shown: str, deadline: float) -> httpx.Response:
        try:
            request = self._http.build_request("GET", url, timeout=httpx.Timeout(_wait(deadline, shown)))
            return self._http.send(request, stream=True)
        except AddressRefused as exc:
            raise FetchFailed("url_refused", shown, str(exc)) from None
        except httpx.InvalidURL as exc:
            raise FetchFailed("url_refused", shown, f"it is not a URL that can be fetched ({exc})") from None
        except httpx.HTTPError as exc:
            raise FetchFailed("pulling_failed", shown, _fault(exc)) from None

    def close(self) -> None:
        self._http.close()


class _Body:
    def __init__(self, response: httpx.Response, url: str, shown: str, limit: int, deadline: float) -> None:
        self.response, self.url, self.shown, self.limit, self.deadline = response, url, shown, limit, deadline
        length = response.headers.get("content-length", "")
        self.size = int(length) if length.isdigit() else None

    def chunks(self) -> Iterator[bytes]:
        got = 0
        try:
            for chunk in self.response.iter_raw(1 << 20):
                got += len(chunk)
                if got > self.limit:
                    raise FetchFailed(
                        "source_too_large", self.shown, f"it is more than the {self.limit} bytes accepted"
                    )
                _wait(self.deadline, self.shown)
                yield chunk
        except httpx.HTTPError as exc:
            raise FetchFailed("pulling_failed", self.shown, _fault(exc)) from None


def _wait(deadline: float, shown: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchFailed("pulling_failed", shown, "it took longer than the fetch timeout")
    return min(WAIT_SECONDS, left)


def _fault(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
