"""``RegistryClient``: the registry's routes as typed methods (see the package docstring)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar
from urllib.parse import quote

import httpx

from assets_registry.client.resumable import Resumable, ResumeBook
from assets_registry.client.transfer import (
    Progress,
    TransferError,
    file_body,
    folder_body,
    folder_files,
    multipart_parts,
    save,
)
from assets_registry.core.model import Asset, asset_from_document, asset_to_document

T = TypeVar("T", bound=Path | IO[bytes])


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
        """Stream a ZIP bundle, or a bundle's folder zipped as it is sent, to ``POST /zip/upload``;
        its upload id. ``TransferError`` if the file cannot be read or changes meanwhile."""
        boundary = uuid.uuid4().hex
        report = progress or _silent
        params = {**({"bucket": bucket} if bucket else {}), **({"services": ",".join(services)} if services else {})}
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        if path.is_dir():
            preamble, epilogue = multipart_parts(f"{path.name}.zip", boundary)
            files = folder_files(path)  # checked before a byte is sent
            zipped = folder_body(files, preamble, epilogue, report)  # chunked: its length is known at its end
            with contextlib.closing(zipped):  # a failed send closes the file being read
                answer = self._send("POST", "/zip/upload", content=zipped, headers=headers, params=params)
            return str(answer.json()["upload_id"])
        preamble, epilogue = multipart_parts(path.name, boundary)
        try:
            source = path.open("rb")
            size = os.fstat(source.fileno()).st_size
        except OSError as exc:
            raise TransferError(f"cannot read {path}: {exc.strerror or exc}") from None
        with source:
            headers["Content-Length"] = str(len(preamble) + size + len(epilogue))
            body = file_body(source, size, preamble, epilogue, report)
            answer = self._send("POST", "/zip/upload", content=body, headers=headers, params=params)
        return str(answer.json()["upload_id"])

    def upload_resumable(
        self, path: Path, bucket: str | None = None, services: tuple[str, ...] = (),
        progress: Progress | None = None, book: ResumeBook | None = None,
    ) -> str:  # fmt: skip
        """Send a ZIP over tus (``/uploads/``), continuing the upload of this same file that an
        earlier call began (``book`` remembers it); its upload id once every byte is in."""
        if path.is_dir():
            raise TransferError(
                f"{path} is a folder: zip it first to resume its upload (a folder is zipped as it is sent)"
            )
        try:
            source = path.open("rb")
            size = os.fstat(source.fileno()).st_size
        except OSError as exc:
            raise TransferError(f"cannot read {path}: {exc.strerror or exc}") from None
        book = book or ResumeBook()
        key = book.fingerprint(str(self.http.base_url), path, bucket or "", ",".join(services))
        tus = Resumable(self.http, _raise_for)
        with source:
            url = book.get(key)
            offset = tus.offset(url) if url else None
            if url is None or offset is None:
                metadata = {"filename": path.name, **({"bucket": bucket} if bucket else {})}
                url, offset = tus.create(size, metadata | ({"services": ",".join(services)} if services else {})), 0
                book.put(key, url)
            tus.send(url, source, size, offset, progress or _silent)
        book.put(key, None)
        return url.rsplit("/", 1)[1]

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

    def download(self, asset_id: str, target: T, progress: Progress | None = None) -> T:
        """The asset's ZIP into ``target`` (a file, replaced once whole, or a binary stream)."""
        with self.http.stream("GET", f"/zip/download/{_seg(asset_id)}", headers=_IDENTITY) as response:
            _raise_for_stream(response)
            save(response, target, asset_id, progress or _silent)
        return target

    def download_file(self, asset_id: str, file_id: str, target: T, progress: Progress | None = None) -> T:
        """One stored file into ``target``; a partial copy in a file there is completed with ``Range``
        and then checked against the file's SHA-256 (its ETag): a copy of another version of the
        file, or one that was whole already but differs, is fetched again whole."""
        have = target.stat().st_size if isinstance(target, Path) and target.is_file() else 0
        path = f"/assets/{_seg(asset_id)}/files/{quote(file_id, safe='/')}"
        if have and self._resumed(path, target, have, f"{asset_id}/{file_id}", progress or _silent):
            return target
        with self.http.stream("GET", path, headers=_IDENTITY) as response:
            _raise_for_stream(response)
            save(response, target, f"{asset_id}/{file_id}", progress or _silent)
        return target

    def _resumed(self, path: str, target: Path | IO[bytes], have: int, what: str, progress: Progress) -> bool:
        """Complete the ``have`` bytes at ``target``; True if the result is the file the server has."""
        assert isinstance(target, Path)
        with self.http.stream("GET", path, headers={**_IDENTITY, "Range": f"bytes={have}-"}) as response:
            etag = response.headers.get("ETag", "")
            if response.status_code == 416:
                whole = response.headers.get("Content-Range", "") == f"bytes */{have}"
                return whole and _digest_matches(target, etag)
            _raise_for_stream(response)
            if response.status_code != 206 or not response.headers.get("Content-Range", "").startswith(
                f"bytes {have}-"
            ):
                return False  # the server sent something else: fetch it whole
            save(response, target, what, progress, have)
        return _digest_matches(target, etag)


_IDENTITY = {"Accept-Encoding": "identity"}  # the bytes as stored: lengths are checked


def _digest_matches(target: Path, etag: str) -> bool:
    """``target``'s SHA-256 is the one an ETag of the registry's files names (True if it names none)."""
    wanted = etag.strip().removeprefix("W/").strip('"')
    if len(wanted) != 64:
        return True
    digest = hashlib.sha256()
    with target.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest() == wanted


def _silent(done: int, total: int | None) -> None:
    del done, total


def _raise_for_stream(response: httpx.Response) -> None:
    if response.status_code >= 400:
        response.read()
        _raise_for(response)


def _seg(value: str) -> str:
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
