"""The port a source's bytes come through: a URL opened as a stream, in bounds.

The adapter (``adapters.fetch``) speaks HTTP; the core only asks for a URL's bytes with a
size limit and gets ``FetchFailed`` with a reason code when it cannot have them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol


class FetchFailed(Exception):
    """A URL could not be fetched; ``reason`` is ``pulling_failed``, ``url_refused`` or ``source_too_large``."""

    def __init__(self, reason: str, url: str, what: str) -> None:
        super().__init__(f"{url}: {what}")
        self.reason, self.url, self.what = reason, url, what


class Fetched(Protocol):
    url: str
    """The URL the bytes came from, after redirects (relative URLs of an index resolve against it)."""
    size: int | None
    """The length the server announced, if it did."""

    def chunks(self) -> Iterator[bytes]:
        """The body, chunk by chunk; ``FetchFailed`` when it breaks off, runs long or grows past the limit."""


class Fetcher(Protocol):
    def open(self, url: str, limit: int) -> AbstractContextManager[Fetched]:
        """The URL's body as a stream of at most ``limit`` bytes; ``FetchFailed`` otherwise."""
