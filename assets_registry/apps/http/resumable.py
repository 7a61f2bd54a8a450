"""Resumable uploads over tus 1.0 (https://tus.io/protocols/resumable-upload): ``/uploads/``.

Core protocol, creation (with upload), termination, checksum (sha1, sha256, md5) and
expiration. ``POST /uploads/`` with ``Upload-Length`` creates an upload (``Upload-Metadata``
may name ``filename``, ``bucket`` and ``services``, as ``POST /zip/upload``'s query does);
``PATCH`` appends from ``Upload-Offset``; ``HEAD`` says how far it got (``POST`` with
``X-HTTP-Method-Override: PATCH`` or ``DELETE`` is taken as those). The last byte in
queues the bundle job under the upload's id: ``GET /zip/status/<id>`` follows it (the
``Link`` of the answers with ``rel="status"``). State is in the backends (``core.bundles.resumable``),
so any server process sharing them continues an upload another began.

Errors are the house's problem documents, with the statuses tus names: 409 for a wrong
offset (``Upload-Offset`` gives the right one), 410 once expired, 412 for a missing or other
``Tus-Resumable``, 413 past ``Upload-Length`` or ``Tus-Max-Size``, 415 for a ``PATCH``
not ``application/offset+octet-stream``, 460 for a checksum mismatch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email.utils import formatdate

import falcon

from assets_registry.apps.http.bodies import body_stream, media_type
from assets_registry.core.bundles.resumable import (
    CHECKSUMS,
    OffsetMismatch,
    ResumableUpload,
    ResumableUploads,
    TusVersionUnsupported,
    metadata_text,
    parse_metadata,
)
from assets_registry.core.errors import InvalidInput
from assets_registry.core.sources import AssetStore
from assets_registry.core.sources.bucket_contents import upload_bucket

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
OFFSET_STREAM = "application/offset+octet-stream"
READ_CHUNK = 1 << 20


class _Tus:
    """What every tus responder does first: the protocol's headers, and its version checked."""

    def __init__(self, uploads: ResumableUploads, on_queued: Callable[[], None] = lambda: None) -> None:
        self.uploads = uploads
        self.on_queued = on_queued
        """Wakes the job threads when an upload's last byte is in."""

    def _answer(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.set_header("Tus-Resumable", TUS_VERSION)
        resp.set_header("Cache-Control", "no-store")
        resp.content_type = None  # the answers are headers only (problems set their own)
        if req.method != "OPTIONS" and req.get_header("Tus-Resumable") != TUS_VERSION:
            resp.set_header("Tus-Version", TUS_VERSION)
            raise TusVersionUnsupported(
                f"Send Tus-Resumable: {TUS_VERSION} (got {req.get_header('Tus-Resumable') or 'none'}); "
                "this server speaks tus 1.0.0."
            )

    def on_options(self, req: falcon.Request, resp: falcon.Response, **_: str) -> None:
        self._answer(req, resp)
        resp.status = falcon.HTTP_204
        resp.set_header("Tus-Version", TUS_VERSION)
        resp.set_header("Tus-Extension", EXTENSIONS)
        resp.set_header("Tus-Max-Size", str(self.uploads.max_length))
        resp.set_header("Tus-Checksum-Algorithm", ",".join(CHECKSUMS))

    def _progress(self, req: falcon.Request, resp: falcon.Response, upload: ResumableUpload) -> None:
        resp.set_header("Upload-Offset", str(upload.offset))
        if upload.complete:
            resp.set_header("Link", f'<{req.root_path}/zip/status/{upload.upload_id}>; rel="status"')
        else:
            resp.set_header("Upload-Expires", formatdate(upload.expires, usegmt=True))

    def _append(self, req: falcon.Request, upload_id: str, offset: int) -> ResumableUpload:
        upload = self.uploads.append(
            upload_id, offset, _chunks(req), req.content_length, req.get_header("Upload-Checksum")
        )
        if upload.complete:
            self.on_queued()
        return upload


class UploadsResource(_Tus):
    """``POST /uploads/``: a new upload (and its first bytes, if the body carries them)."""

    def __init__(
        self, uploads: ResumableUploads, on_queued: Callable[[], None] = lambda: None, store: AssetStore | None = None
    ) -> None:
        super().__init__(uploads, on_queued)
        self.store = store

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._answer(req, resp)
        if req.get_header("Upload-Defer-Length"):
            raise InvalidInput("Upload-Defer-Length is not supported: send Upload-Length, the archive's size.")
        length = _number(req, "Upload-Length")
        metadata = parse_metadata(req.get_header("Upload-Metadata"))
        bucket = metadata_text(metadata, "bucket")
        if bucket and self.store is None:
            raise InvalidInput("This server keeps no buckets; upload without a bucket in Upload-Metadata.")
        bucket = upload_bucket(self.store, bucket) if self.store is not None else None
        services = [s.strip() for s in (metadata_text(metadata, "services") or "").split(",") if s.strip()]
        upload = self.uploads.create(length, metadata, bucket, list(dict.fromkeys(services)))
        resp.status = falcon.HTTP_201
        resp.location = f"{req.root_path}/uploads/{upload.upload_id}"
        if media_type(req) == OFFSET_STREAM and req.content_length != 0:
            upload = self._append(req, upload.upload_id, 0)  # creation-with-upload
        self._progress(req, resp, upload)


class UploadResource(_Tus):
    """``HEAD``, ``PATCH`` and ``DELETE /uploads/{id}``: how far, append, terminate."""

    def on_head(self, req: falcon.Request, resp: falcon.Response, upload_id: str) -> None:
        self._answer(req, resp)
        upload = self.uploads.get(upload_id)
        self._progress(req, resp, upload)
        resp.set_header("Upload-Length", str(upload.length))
        if upload.metadata:
            resp.set_header("Upload-Metadata", ",".join(f"{k} {v}".strip() for k, v in upload.metadata.items()))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, upload_id: str) -> None:
        self._answer(req, resp)
        if media_type(req) != OFFSET_STREAM:
            raise falcon.HTTPUnsupportedMediaType(
                description=f"Send the bytes as {OFFSET_STREAM}; got {media_type(req) or 'no content type'!r}."
            )
        offset = _number(req, "Upload-Offset")
        try:
            upload = self._append(req, upload_id, offset)
        except OffsetMismatch as exc:
            resp.set_header("Upload-Offset", str(exc.offset))
            raise
        resp.status = falcon.HTTP_204
        self._progress(req, resp, upload)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, upload_id: str) -> None:
        self._answer(req, resp)
        self.uploads.terminate(upload_id)
        resp.status = falcon.HTTP_204

    def on_post(self, req: falcon.Request, resp: falcon.Response, upload_id: str) -> None:
        """``PATCH`` or ``DELETE`` sent as ``POST`` with ``X-HTTP-Method-Override`` (tus core: for
        clients behind proxies that allow only GET and POST)."""
        override = (req.get_header("X-HTTP-Method-Override") or "").upper()
        if override == "PATCH":
            self.on_patch(req, resp, upload_id)
        elif override == "DELETE":
            self.on_delete(req, resp, upload_id)
        else:
            self._answer(req, resp)
            raise InvalidInput("POST to an upload needs X-HTTP-Method-Override: PATCH or DELETE.")


def add_resumable(
    add: Callable[[str, object], None], uploads: ResumableUploads, on_queued: Callable[[], None], store: AssetStore
) -> None:
    """The ``/uploads/`` routes, added with ``add`` (``RouteBook.add``)."""
    add("/uploads", UploadsResource(uploads, on_queued, store))
    add("/uploads/{upload_id}", UploadResource(uploads, on_queued))


def _number(req: falcon.Request, name: str) -> int:
    raw = req.get_header(name)
    if raw is None or not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise InvalidInput(f"Send {name} as a whole number of bytes; got {raw!r}.")
    return int(raw)


def _chunks(req: falcon.Request) -> Iterator[bytes]:
    body = body_stream(req)
    while chunk := body.read(READ_CHUNK):
        yield chunk
