"""``RegistryClient``: the registry's routes as typed methods (see the package docstring)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from assets_registry.core.model import Asset, asset_from_document, asset_to_document

CHUNK = 1 << 20
Progress = Callable[[int, int | None], None]
"""Called with the bytes moved so far and the total (None when unknown)."""


class ApiError(Exception):
    """The server refused or failed: its status, ``code`` and ``detail`` (RFC 9457 problem)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail


@dataclass(frozen=True)
class UploadStatus:
    upload_id: str
    status: str
    reason: str | None = None
    asset_id: str | None = None
    progress: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.status == "success" or self.status.startswith("failed")


class RegistryClient:
    """One registry, over one connection pool. ``token`` (else ``$ASSETS_TOKEN``) goes in every request."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        max_wait: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = url.strip().rstrip("/")
        token = token or os.environ.get("ASSETS_TOKEN") or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=url if "://" in url else f"http://{url}",
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
        )
        self.retries, self.max_wait = retries, max_wait

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- transport ------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer, once it is not a 503 (waited out up to ``retries`` times); ``ApiError`` on an error."""
        for attempt in range(self.retries + 1):
            response = self.http.request(method, path, **kwargs)
            if response.status_code != 503 or attempt == self.retries or "content" in kwargs:
                break
            wait = response.headers.get("Retry-After", "1")
            time.sleep(min(float(wait) if wait.replace(".", "", 1).isdigit() else 1.0, self.max_wait))
        _raise_for(response)
        return response

    def _pages(self, method: str, path: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        params = dict(kwargs.pop("params", {}) or {})
        while True:
            response = self._send(method, path, params=params, **kwargs)
            yield from response.json()
            cursor = response.headers.get("X-Next-Cursor")
            if not cursor:
                return
            params["cursor"] = cursor

    # -- assets -------------------------------------------------------------------------

    def get_asset(self, asset_id: str) -> Asset:
        return asset_from_document(self._send("GET", f"/query/by-id/{_seg(asset_id)}").json())

    def create_asset(self, asset: Asset | dict[str, Any]) -> Asset:
        document = asset_to_document(asset) if isinstance(asset, Asset) else asset
        return asset_from_document(self._send("POST", "/assets", json=document).json())

    def update_asset(self, asset_id: str, changes: dict[str, Any], if_match: str | None = None) -> Asset:
        headers = {"If-Match": if_match} if if_match else {}
        return asset_from_document(self._send("PUT", f"/assets/{_seg(asset_id)}", json=changes, headers=headers).json())

    def delete_asset(self, asset_id: str) -> None:
        self._send("DELETE", f"/assets/{_seg(asset_id)}")

    def assets_by(self, lookup: str, value: str, page_size: int | None = None) -> Iterator[Asset]:
        """``lookup``: ``type``, ``sub-type``, ``tag`` or ``api-route``; every page, lazily."""
        params = {"limit": page_size} if page_size else {}
        path = f"/query/by-{lookup}/{value.lstrip('/') if lookup == 'api-route' else _seg(value)}"
        return (asset_from_document(d) for d in self._pages("GET", path, params=params))

    def search(self, filters: dict[str, Any], page_size: int | None = None) -> Iterator[Asset]:
        params = {"limit": page_size} if page_size else {}
        return (asset_from_document(d) for d in self._pages("POST", "/query/search", json=filters, params=params))

    # -- bundles ------------------------------------------------------------------------

    def upload(self, path: Path, bucket: str | None = None, services: tuple[str, ...] = (),
               progress: Progress | None = None) -> str:  # fmt: skip
        """Stream a ZIP bundle to ``POST /zip/upload``; its upload id."""
        size = path.stat().st_size
        boundary = uuid.uuid4().hex
        name = path.name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: application/zip\r\n\r\n").encode()  # fmt: skip
        tail = f"\r\n--{boundary}--\r\n".encode()

        def body() -> Iterator[bytes]:
            yield head
            sent = 0
            with path.open("rb") as source:
                while chunk := source.read(CHUNK):
                    sent += len(chunk)
                    if progress:
                        progress(sent, size)
                    yield chunk
            yield tail

        params: dict[str, str] = {}
        if bucket:
            params["bucket"] = bucket
        if services:
            params["services"] = ",".join(services)
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
                   "Content-Length": str(len(head) + size + len(tail))}  # fmt: skip
        answer = self._send("POST", "/zip/upload", content=body(), headers=headers, params=params)
        return str(answer.json()["upload_id"])

    def status(self, upload_id: str) -> UploadStatus:
        answer = self._send("GET", f"/zip/status/{_seg(upload_id)}").json()
        return UploadStatus(answer["upload_id"], answer["status"], answer.get("reason"), answer.get("asset_id"),
                            answer.get("progress"))  # fmt: skip

    def wait(self, upload_id: str, timeout: float = 3600.0, poll: float = 0.5) -> UploadStatus:
        """The job's status once it has ended (or ``TimeoutError`` after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while not (current := self.status(upload_id)).finished:
            if time.monotonic() > deadline:
                raise TimeoutError(f"upload {upload_id} still {current.status} after {timeout:g} s")
            time.sleep(poll)
        return current

    def download(self, asset_id: str, target: Path, progress: Progress | None = None) -> Path:
        """The asset's ZIP into ``target``, streamed (a partial file is replaced)."""
        return self._save(f"/zip/download/{_seg(asset_id)}", target, progress, resume=False)

    def download_file(self, asset_id: str, file_id: str, target: Path, progress: Progress | None = None) -> Path:
        """One stored file into ``target``; a partial copy there is completed with a ``Range`` request."""
        return self._save(f"/assets/{_seg(asset_id)}/files/{file_id}", target, progress, resume=True)

    def _save(self, path: str, target: Path, progress: Progress | None, resume: bool) -> Path:
        have = target.stat().st_size if resume and target.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        with self.http.stream("GET", path, headers=headers) as response:
            if response.status_code == 416 and have:  # the copy there is whole already
                return target
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            partial = response.status_code == 206
            total = response.headers.get("Content-Length")
            size = (int(total) + (have if partial else 0)) if total and total.isdigit() else None
            done = have if partial else 0
            with target.open("ab" if partial else "wb") as sink:
                for chunk in response.iter_bytes(CHUNK):
                    sink.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, size)
        return target


def _seg(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    raise ApiError(
        response.status_code,
        str(problem.get("code") or response.reason_phrase.lower().replace(" ", "_")),
        str(problem.get("detail") or f"{response.status_code} {response.reason_phrase} from {response.request.url}"),
    )
