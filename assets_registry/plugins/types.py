"""The typed values hooks exchange: backend URLs, adapter declarations, their context."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

_SECRET = re.compile(r"password|secret|token|credential|^key$", re.IGNORECASE)
PortName = Literal["metadata", "blobs", "jobs", "catalog", "history"]
PORT_NAMES: tuple[PortName, ...] = ("metadata", "blobs", "jobs", "catalog", "history")


@dataclass(frozen=True)
class BackendURL:
    """A backend chosen by URL: the scheme names the adapter, the rest configures it.

    ``str()`` hides any password, so a URL can be logged and listed safely.
    """

    raw: str

    @property
    def parts(self) -> SplitResult:
        return urlsplit(self.raw)

    @property
    def scheme(self) -> str:
        return self.parts.scheme.lower()

    @property
    def host(self) -> str:
        """The authority part (``host:port``, ``bucket``, ``container``), without credentials."""
        return self.parts.netloc.rpartition("@")[2]

    @property
    def path(self) -> str:
        return unquote(self.parts.path)

    @property
    def options(self) -> dict[str, str]:
        return dict(parse_qsl(self.parts.query, keep_blank_values=True))

    def option(self, name: str, default: str | None = None) -> str | None:
        return self.options.get(name, default)

    def local_path(self, default: Path) -> Path:
        """A filesystem path from ``scheme:///abs``, ``scheme:rel`` or ``scheme://`` (the default)."""
        parts = self.parts
        if parts.netloc:
            return Path(unquote(parts.netloc + parts.path))
        if not parts.path:
            return default
        return Path(unquote(parts.path))

    def __str__(self) -> str:
        parts = self.parts
        query = parse_qsl(parts.query, keep_blank_values=True)
        if not parts.password and not any(_SECRET.search(k) for k, _v in query):
            return self.raw
        if parts.password:
            parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
        hidden = [(k, "***" if _SECRET.search(k) else v) for k, v in query]
        return urlunsplit(parts._replace(query=urlencode(hidden, safe="*")))


@dataclass(frozen=True)
class AdapterContext:
    """What an adapter factory receives: its URL, and where the registry keeps local data."""

    url: BackendURL
    data_dir: Path
    environ: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AdapterSpec:
    """One adapter a plugin offers: the port it serves, its URL scheme, and its factory.

    ``options`` documents the URL query options (name -> what it does) for
    ``assets-registry plugins`` and ``docs/backends.md``.
    """

    port: PortName
    scheme: str
    factory: Callable[[AdapterContext], Any]
    summary: str
    options: Mapping[str, str] = field(default_factory=dict)
