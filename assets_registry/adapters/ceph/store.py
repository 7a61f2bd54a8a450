"""``core.ports.BlobStore`` on Ceph's RADOS Gateway, through its Swift API (python-swiftclient).

A blob smaller than ``segment_size`` is one object, written by one PUT. A larger one is a
Static Large Object: its segments go to ``CONTAINER_segments`` under a folder of their own
(``<name>/<uuid>/00000000``), then one PUT of the manifest makes the whole blob appear at
once. Either way a reader sees the old blob or the new one, never a part, and an upload that
fails (the gateway, or the caller's chunks raising) deletes the segments it wrote.

RGW cannot hand a manifest back (``multipart-manifest=get`` answers an empty body), so a
manifest also records its segment folder and count in its metadata: replacing a blob reads
them to delete the old segments, after the new blob is in place. The blob's SHA-256 is kept
in its metadata too, so ``stat`` can tell it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import swiftclient
from swiftclient.exceptions import ClientException

from assets_registry.adapters.ceph.config import CephConfig
from assets_registry.adapters.ceph.connections import BACKEND, TRANSPORT_ERRORS, ConnectionPool
from assets_registry.adapters.ceph.segments import (
    MAX_OBJECT_NAME_BYTES,
    SegmentBuffer,
    header_value,
    object_name,
    segment_folder,
    segment_name,
)
from assets_registry.core.errors import BackendUnavailable, BlobNotFound, InvalidInput
from assets_registry.core.ports import BlobInfo, StoredBlob
from assets_registry.plugins.store_helpers import (
    BlobTooLarge,
    InvalidBlobKey,
    check_key,
    key_problem,
    missing_by_listing,
    read_ahead,
)

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
SHA256_HEADER = "X-Object-Meta-Sha256"
FOLDER_HEADER = "X-Object-Meta-Segment-Folder"
COUNT_HEADER = "X-Object-Meta-Segment-Count"


class CephBlobStore:
    """Blobs in one Swift container of a RADOS Gateway, under an optional prefix."""

    def __init__(self, config: CephConfig) -> None:
        self.config = config
        self._pool = ConnectionPool(config)
        self._url_prefix = "ceph://" + quote(config.container, safe="") + "/"
        if config.prefix:
            self._url_prefix += quote(config.prefix) + "/"
        if config.create_container:
            try:
                self._create(config.container)
                self._create(config.segments_container)
            except BaseException:
                self._pool.close()
                raise

    def _create(self, container: str) -> None:
        """PUT a container: creates it, or answers 202 if it exists (nothing changes then)."""
        self._pool.call(lambda c: c.put_container(container))

    def _name(self, key: str) -> str:
        """The object name of a key, refusing the keys the filesystem store refuses."""
        name = object_name(self.config.prefix, check_key(key))
        if len(name.encode()) > MAX_OBJECT_NAME_BYTES:
            raise InvalidBlobKey(
                f"The blob key {key!r} is too long for Ceph: object names, the URL's prefix included, "
                f"are limited to {MAX_OBJECT_NAME_BYTES} bytes of UTF-8."
            )
        return name

    def _info(self, key: str, size: int, sha256: str | None = None) -> BlobInfo:
        return BlobInfo(key=key, url=self._url_prefix + quote(key), size=size, sha256=sha256)

    def put(self, key: str, chunks: Iterable[bytes], transient: bool = False) -> BlobInfo:
        """Store the chunks; ``transient`` blobs skip the SHA-256 (``sha256`` is then None)."""
        name = self._name(key)
        digest = None if transient else hashlib.sha256()
        upload = _Upload(self, key, name)
        buffer = SegmentBuffer()
        limit = self.config.segment_size
        size = 0
        try:
            for chunk in chunks:  # the caller's errors propagate as they are
                if not isinstance(chunk, bytes):
                    chunk = bytes(chunk)  # noqa: PLW2901 - a buffer the caller may reuse is copied, not kept
                if digest is not None:
                    digest.update(chunk)
                size += len(chunk)
                rest = chunk
                while rest:
                    if buffer.size == limit:  # a full buffer, and more bytes follow: a segment
                        upload.send_segment(buffer)
                        buffer = SegmentBuffer()
                    room = limit - buffer.size
                    buffer.add(rest[:room] if len(rest) > room else rest)
                    rest = rest[room:] if len(rest) > room else b""
            sha256 = digest.hexdigest() if digest is not None else None
            headers = {SHA256_HEADER: sha256} if sha256 else {}
            previous = self._segments_of(key, name)
            if upload.segments:
                upload.send_segment(buffer, last=True)
                upload.commit(headers)
            else:
                self._pool.call(
                    lambda c: c.put_object(
                        self.config.container,
                        name,
                        buffer if buffer.size else b"",
                        content_length=buffer.size,
                        etag=buffer.etag,  # the gateway checks what it received (422 otherwise)
                        headers=headers,
                    )
                )
        except BaseException:
            upload.abort()
            raise
        self._delete_segments(previous)  # only now that nothing refers to them any more
        return self._info(key, size, sha256)

    def _segments_of(self, key: str, name: str) -> list[str]:
        """The segments of the large blob stored under ``name`` now, if it is one of ours."""
        try:
            headers = self._pool.call(lambda c: c.head_object(self.config.container, name), key)
        except BlobNotFound:
            return []
        folder, count = headers.get(FOLDER_HEADER.lower()), headers.get(COUNT_HEADER.lower(), "")
        if not _is_large(headers) or not folder or not count.isdigit():
            return []
        return [segment_name(unquote(folder), n) for n in range(int(count))]

    def _delete_segments(self, names: list[str]) -> None:
        """Best effort: a failure leaves orphaned segments (logged), never a broken blob."""
        for name in names:
            try:
                self._delete_segment(name)
            except BackendUnavailable as exc:
                log.warning("Could not delete the segment %r of a replaced or failed upload: %s", name, exc)
                return

    def _delete_segment(self, name: str) -> None:
        with contextlib.suppress(BlobNotFound):
            self._pool.call(lambda c: c.delete_object(self.config.segments_container, name), name)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        name = self._name(key)
        if start < 0 or (length is not None and length < 0):
            raise InvalidInput(f"A read of {key!r} needs a start and length of at least 0.")
        if length == 0:
            self.stat(key)  # still BlobNotFound for a missing blob
            return iter(())
        headers = {}
        if start or length is not None:
            headers["Range"] = f"bytes={start}-{'' if length is None else start + length - 1}"
        connection = self._pool.acquire()
        try:
            _headers, body = connection.get_object(
                self.config.container, name, resp_chunk_size=READ_CHUNK, headers=headers
            )
        except BaseException as exc:
            self._pool.release(connection, reusable=isinstance(exc, ClientException))
            if isinstance(exc, ClientException) and exc.http_status == 416:
                return iter(())  # the range starts at or past the end (any range of an empty blob)
            if isinstance(exc, (ClientException, *TRANSPORT_ERRORS)):
                raise self._pool.translate(exc, key) from exc
            raise
        return self._stream(connection, body)

    def _stream(self, connection: swiftclient.Connection, body: Any) -> Iterator[bytes]:
        """The body chunk by chunk; the connection goes back to the pool once it is read whole."""
        whole = False
        try:
            yield from body
            whole = True
        except (ClientException, *TRANSPORT_ERRORS) as exc:
            raise self._pool.translate(exc) from exc
        finally:
            if not whole:
                with contextlib.suppress(Exception):
                    body.close()  # swiftclient's _ObjectBody: drops the unread rest of the response
            self._pool.release(connection, reusable=whole)

    def stat(self, key: str) -> BlobInfo:
        name = self._name(key)
        headers = self._pool.call(lambda c: c.head_object(self.config.container, name), key)
        return self._info(key, int(headers.get("content-length", 0)), headers.get(SHA256_HEADER.lower()))

    def read_many(self, items: Iterable[tuple[str, int]]) -> Iterator[bytes]:
        """A few GETs in flight at once: each small blob is mostly a round trip."""
        return read_ahead(self.read, items)

    def missing(self, keys: Sequence[str]) -> list[str]:
        """A container listing per folder instead of a HEAD per key."""
        return missing_by_listing(keys, self._name, self.stat, self._listed)

    def listing(self, folder: str) -> Iterator[StoredBlob]:
        """The container's objects under the folder (a large blob is its manifest: one entry)."""
        start = len(object_name(self.config.prefix, ""))
        _headers, found = self._pool.call(
            lambda c: c.get_container(
                self.config.container, prefix=object_name(self.config.prefix, folder), full_listing=True
            )
        )
        for item in found:
            if "name" in item:
                modified = datetime.fromisoformat(item["last_modified"]).replace(tzinfo=UTC).timestamp()
                yield StoredBlob(item["name"][start:], int(item["bytes"]), modified)

    def _listed(self, folder: str, first: str, _last: str) -> set[str]:
        _headers, listing = self._pool.call(
            lambda c: c.get_container(
                self.config.container, prefix=folder, delimiter="/", marker=first[:-1], full_listing=True
            )
        )
        return {item["name"] for item in listing if "name" in item}

    def delete(self, key: str) -> None:
        name = self._name(key)
        try:
            headers = self._pool.call(lambda c: c.head_object(self.config.container, name), key)
            # RGW ignores multipart-manifest=delete on a plain object (answers 200, deletes
            # nothing), so the kind of object decides the request.
            query = "multipart-manifest=delete" if _is_large(headers) else None
            self._pool.call(lambda c: c.delete_object(self.config.container, name, query_string=query), key)
        except BlobNotFound:
            pass

    def key_for_url(self, url: str) -> str | None:
        if not url.startswith(self._url_prefix):
            return None
        key = unquote(url[len(self._url_prefix) :])
        return None if key_problem(key) else key

    def check(self) -> None:
        self._pool.call(lambda c: c.head_container(self.config.container))

    def close(self) -> None:
        self._pool.close()


class _Upload:
    """The segments of one large upload: sent one by one, then committed or deleted."""

    def __init__(self, store: CephBlobStore, key: str, name: str) -> None:
        self.store, self.key, self.name = store, key, name
        self.folder = segment_folder(name)
        self.segments: list[dict[str, object]] = []  # the manifest's entries
        self.names: list[str] = []  # the segments written, to delete if the upload fails

    def send_segment(self, buffer: SegmentBuffer, last: bool = False) -> None:
        """Send one full segment (``last``: the blob's final one, which may be shorter)."""
        config = self.store.config
        if not last and len(self.segments) + 2 > config.max_segments:  # this one, and at least one more
            raise BlobTooLarge(
                f"The blob {self.key!r} is larger than this store takes ({config.max_segments} segments of "
                f"{config.segment_size} bytes); raise segment_size in the ceph:// URL."
            )
        name = segment_name(self.folder, len(self.segments))
        self.names.append(name)  # before the PUT: its answer may be lost after the gateway stored it
        try:
            self.store._pool.call(
                lambda c: c.put_object(
                    config.segments_container, name, buffer, content_length=buffer.size, etag=buffer.etag
                )
            )
        finally:
            buffer.release()
        # RGW reads the path as it is (no percent-decoding), so names are written raw.
        self.segments.append(
            {"path": f"/{config.segments_container}/{name}", "etag": buffer.etag, "size_bytes": buffer.size}
        )

    def commit(self, headers: Mapping[str, str]) -> None:
        """PUT the manifest: the blob appears whole, at once."""
        config = self.store.config
        headers = {**headers, FOLDER_HEADER: header_value(self.folder), COUNT_HEADER: str(len(self.segments))}
        manifest = json.dumps(self.segments)
        try:
            self.store._pool.call(
                lambda c: c.put_object(
                    config.container, self.name, manifest, query_string="multipart-manifest=put", headers=headers
                )
            )
        except BackendUnavailable:
            landed = self._landed()
            if landed:  # the gateway stored it, and only its answer was lost
                return
            if landed is None:  # cannot tell: keep the segments (orphans at worst, never a broken blob)
                self.names = []
            raise

    def _landed(self) -> bool | None:
        """Is our manifest the blob now? None if the gateway cannot say."""
        try:
            headers = self.store._pool.call(lambda c: c.head_object(self.store.config.container, self.name), self.key)
        except BlobNotFound:
            return False
        except BackendUnavailable:
            return None
        return bool(headers.get(FOLDER_HEADER.lower()) == header_value(self.folder))

    def abort(self) -> None:
        """Delete the segments sent so far (best effort), so a failed upload leaves nothing."""
        names, self.names = self.names, []
        with contextlib.suppress(Exception):
            self.store._delete_segments(names)


def _is_large(headers: Mapping[str, str]) -> bool:
    return headers.get("x-static-large-object", "").lower() == "true"


__all__ = ["BACKEND", "BlobTooLarge", "CephBlobStore", "CephConfig"]
