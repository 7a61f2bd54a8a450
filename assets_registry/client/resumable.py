"""A tus 1.0 client for ``/uploads/``: an upload that breaks off is continued where the server has it.

``Resumable.send`` creates the upload (or, given the URL of one begun earlier, asks how far it
got) and sends the rest in chunks of ``chunk`` bytes, each with a sha256 ``Upload-Checksum``.
A chunk that fails on the way (the connection broke, the server restarted) is retried from
the offset the server then reports, up to ``retries`` times in a row. Only one chunk is in
memory at a time. ``ResumeBook`` remembers which upload a file went to, so that running the
same command again after it was cut off (``assets-registry upload --resume``) sends only the rest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx

from assets_registry.client.transfer import TransferError

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = 8 << 20
"""Bytes per PATCH: each is hashed before it is sent, so each is in memory once."""


class ResumeFailed(TransferError):
    """The upload cannot continue (the server refused it, or kept failing)."""


class ResumeBook:
    """Which upload URL each file went to, in a JSON file of its own (the user's cache)."""

    def __init__(self, path: Path | None = None) -> None:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        self.path = path or cache / "assets-registry" / "uploads.json"

    @staticmethod
    def fingerprint(server: str, source: Path, *where: str) -> str:
        """The server, the file, its size and modification time, and ``where`` it goes (bucket,
        services): a changed file, or one sent elsewhere, starts afresh."""
        stat = source.stat()
        return "|".join([server, str(source.resolve()), str(stat.st_size), str(stat.st_mtime_ns), *where])

    def get(self, key: str) -> str | None:
        return self._read().get(key)

    def put(self, key: str, url: str | None) -> None:
        entries = self._read()
        if url is None:
            entries.pop(key, None)
        else:
            entries[key] = url
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(entries, indent=1))
        temporary.replace(self.path)  # a reader sees the old book or the new one

    def _read(self) -> dict[str, str]:
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in entries.items()} if isinstance(entries, dict) else {}


class Resumable:
    """One file sent over tus through ``http`` (its base URL is the registry's)."""

    def __init__(
        self,
        http: httpx.Client,
        refuse: Callable[[httpx.Response], None],
        chunk: int | None = None,
        retries: int = 5,
        pause: float = 1.0,
    ) -> None:
        """``refuse`` raises the error of a refused answer (the client's ``ApiError``); ``chunk``
        is the bytes per request (``CHUNK``)."""
        self.http, self.refuse, self.retries, self.pause = http, refuse, retries, pause
        self.chunk = chunk or CHUNK

    def create(self, size: int, metadata: dict[str, str]) -> str:
        """A new upload of ``size`` bytes; its URL."""
        encoded = ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in metadata.items())
        headers = {**TUS, "Upload-Length": str(size), **({"Upload-Metadata": encoded} if encoded else {})}
        answer = self.http.post("/uploads/", headers=headers)
        self.refuse(answer)
        return str(answer.url.join(answer.headers["Location"]))

    def offset(self, url: str) -> int | None:
        """How many bytes the server has of the upload at ``url``; None if it has forgotten it."""
        answer = self.http.head(url, headers=TUS)
        if answer.status_code in (404, 410):
            return None
        self.refuse(answer)
        return int(answer.headers["Upload-Offset"])

    def send(self, url: str, source: IO[bytes], size: int, offset: int, progress: Callable[[int, int], None]) -> None:
        """Send ``source`` from ``offset`` to its end; retried from the server's offset where a chunk fails."""
        failures = 0
        while offset < size:
            source.seek(offset)
            chunk = source.read(min(self.chunk, size - offset))
            if not chunk:
                raise ResumeFailed(f"the file ended at {offset} of {size} bytes: it changed while it was sent")
            digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
            headers = {
                **TUS,
                "Content-Type": "application/offset+octet-stream",
                "Upload-Offset": str(offset),
                "Upload-Checksum": f"sha256 {digest}",
            }
            try:
                answer = self.http.patch(url, content=chunk, headers=headers)
            except httpx.TransportError as exc:
                failures = self._failed(failures, f"{type(exc).__name__}: {exc}")
                offset = self._offset_after_failure(url)
                continue
            if answer.status_code == 409 and "Upload-Offset" in answer.headers:
                offset = int(answer.headers["Upload-Offset"])  # the server has more (or less) than thought
                continue
            if answer.status_code in (460, 502, 503, 504):
                failures = self._failed(failures, f"{answer.status_code} from the server")
                offset = self._offset_after_failure(url)
                continue
            self.refuse(answer)
            offset, failures = int(answer.headers["Upload-Offset"]), 0
            progress(offset, size)

    def _failed(self, failures: int, why: str) -> int:
        if failures >= self.retries:
            raise ResumeFailed(f"the upload failed {failures + 1} times in a row (last: {why}); run it again to resume")
        time.sleep(self.pause * (failures + 1))
        return failures + 1

    def _offset_after_failure(self, url: str) -> int:
        for attempt in range(self.retries + 1):
            try:
                offset = self.offset(url)
            except httpx.TransportError:
                time.sleep(self.pause * (attempt + 1))
                continue
            if offset is None:
                raise ResumeFailed("the server no longer knows the upload (it expired); start it again")
            return offset
        raise ResumeFailed("the server does not answer; run the command again to resume")
