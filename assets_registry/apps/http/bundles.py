"""The seed's ZIP routes: ``POST /zip/upload``, ``GET /zip/status/{id}``, ``GET|HEAD /zip/download/{id}``.

The upload's ``file`` part is streamed from the socket into the blob store chunk by chunk
(Falcon's multipart reader streams parts); the archive is never held in memory. The
download is a ZIP built while it is sent, with its exact ``Content-Length``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import falcon
from falcon.media.multipart import MultipartForm, MultipartFormHandler, MultipartParseError
from falcon.util import BufferedReader

from assets_registry.apps.http.bodies import body_stream, etag_matches, media_type, send_json
from assets_registry.apps.http.files import byte_range
from assets_registry.core.bundles import BundleDownload, Bundles
from assets_registry.core.bundles.use_cases import FORM_ALLOWANCE
from assets_registry.core.errors import InvalidInput
from assets_registry.core.sources import AssetStore
from assets_registry.core.sources.bucket_contents import upload_bucket
from assets_registry.core.sources.reasons import job_reason

UPLOAD_CHUNK = 1 << 20
FILE_FIELD = "file"
MULTIPART = "multipart/form-data"


class MissingFile(InvalidInput):
    code = "missing_file"


class MalformedForm(InvalidInput):
    code = "malformed_form"


class UploadResource:
    """``?services=a,b`` names webhook services, ``?bucket=name`` the bucket (``core.sources``);
    both are checked before a byte of the body is read."""

    def __init__(
        self, bundles: Bundles, on_queued: Callable[[], None] = lambda: None, store: AssetStore | None = None
    ) -> None:
        self.bundles = bundles
        self.on_queued = on_queued
        self.store = store
        self.forms = MultipartFormHandler()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        media = media_type(req)
        if media != MULTIPART:
            raise falcon.HTTPUnsupportedMediaType(
                description=f"Upload the archive as {MULTIPART} with a '{FILE_FIELD}' field "
                f'(curl -F "file=@bundle.zip"); got {media or "no content type"!r}.'
            )
        services = _services(req)
        self.bundles.ingest.catalog.check_names(services)
        bucket = req.get_param("bucket")
        if bucket and self.store is None:
            raise InvalidInput("This server keeps no buckets; upload without ?bucket=.")
        bucket = upload_bucket(self.store, bucket) if self.store is not None else None
        try:
            parts = iter(self._form(req))
            for part in parts:
                if part.name == FILE_FIELD:
                    job = self.bundles.stage(_file_chunks(part, parts), req.content_length, services, bucket)
                    break
            else:
                raise MissingFile(f"The form has no '{FILE_FIELD}' field; send the archive as file=@bundle.zip.")
        except MultipartParseError as exc:
            raise MalformedForm(f"The multipart body is malformed: {exc.description or exc.title}.") from None
        self.on_queued()
        resp.location = f"/zip/status/{job.upload_id}"
        send_json(resp, {"success": True, "upload_id": job.upload_id}, 202)

    def _form(self, req: falcon.Request) -> MultipartForm:
        """The form, parsed from the socket through a 1 MiB buffer by Falcon's multipart handler.

        Falcon's default 32 KiB buffer makes its parser the bottleneck of large uploads
        (measured: 1.3 s against 0.4 s per 512 MiB), so the handler is given a larger one.
        A chunked request (no length) is read until its end, which the size limit bounds.
        """
        length = req.content_length
        if length is None:
            length = self.bundles.limits.max_upload_bytes + FORM_ALLOWANCE + 1
        reader = BufferedReader(body_stream(req).read, length, UPLOAD_CHUNK)
        form = self.forms.deserialize(reader, req.content_type, length)
        assert isinstance(form, MultipartForm)
        return form


def _services(req: falcon.Request) -> list[str]:
    """The webhook services the upload names: ``?services=a,b`` (or the parameter repeated)."""
    given = req.get_param_as_list("services") or []
    return [name.strip() for value in given for name in value.split(",") if name.strip()]


def _file_chunks(part: Any, rest: Iterator[Any]) -> Iterator[bytes]:
    """The file part's bytes, then the rest of the form read to its closing delimiter.

    A part ends where its delimiter is found, or where the body ends: only the form's end
    tells a whole archive from one cut short. Reading it here, inside the staging, means a
    form without its end fails the upload before its job is queued.
    """
    while chunk := part.stream.read(UPLOAD_CHUNK):
        yield chunk
    try:
        for _other in rest:  # fields after the file are read past, not kept
            pass
    except MultipartParseError:
        raise MalformedForm(
            "The multipart body ends without its closing boundary: the upload was cut short; send it again."
        ) from None


class UploadStatusResource:
    def __init__(self, bundles: Bundles) -> None:
        self.bundles = bundles

    def on_get(self, req: falcon.Request, resp: falcon.Response, upload_id: str) -> None:
        job = self.bundles.status(upload_id)
        body: dict[str, Any] = {"upload_id": job.upload_id, "status": job.status, "reason": job_reason(job.status)}
        if job.asset_id is not None:
            body["asset_id"] = job.asset_id
        if job.progress is not None:
            body["progress"] = job.progress
        send_json(resp, body)


class DownloadResource:
    public_in_readable_buckets = True  # a readonly or readwrite bucket's assets download without a token

    def __init__(self, bundles: Bundles) -> None:
        self.bundles = bundles

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        download = self.bundles.export(asset_id)
        tag = _etag(download)
        if etag_matches(req.get_header("If-None-Match"), tag):
            resp.status = falcon.HTTP_304  # the archive the client has is this one: nothing is read
            resp.set_header("ETag", tag)
            resp.content_type = None
            return
        wanted = byte_range(req, download.size, tag)
        if wanted is not None and wanted[0] >= download.size:
            self._headers(resp, download)
            resp.status, resp.content_type, resp.content_length = falcon.HTTP_416, None, None
            resp.set_header("Content-Range", f"bytes */{download.size}")
            return
        chunks = self.bundles.send(self._headers(resp, download))
        # The first chunk is made here, before the status line goes out: a fault found in it
        # (a file changed behind the registry's back) is a 409 problem, not the WSGI server's
        # HTML 500. A fault found later can only cut the stream short of its Content-Length.
        stream = _Primed(next(chunks, b""), chunks)
        if wanted is None:
            resp.stream = stream
            return
        start, end = wanted  # the archive's bytes are the same each time: made again, and skipped to start
        resp.status = falcon.HTTP_206
        resp.set_header("Content-Range", f"bytes {start}-{end}/{download.size}")
        resp.content_length = end - start + 1
        resp.stream = _Window(stream, start, end - start + 1)

    def on_head(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        self._headers(resp, self.bundles.export(asset_id))
        resp.set_header("Accept-Ranges", "bytes")

    def _headers(self, resp: falcon.Response, download: BundleDownload) -> BundleDownload:
        resp.content_type = "application/zip"
        resp.set_header("Accept-Ranges", "bytes")
        resp.content_length = download.size
        ascii_name = download.filename.encode("ascii", "replace").decode().replace('"', "_")
        resp.set_header(
            "Content-Disposition",
            f"attachment; filename={_token_or_quoted(ascii_name)}; filename*=UTF-8''{quote(download.filename)}",
        )
        resp.set_header("ETag", _etag(download))
        return download


def _etag(download: BundleDownload) -> str:
    return f'"zip-{download.digest[:32]}"'  # the same bytes, whatever the revision


class _Primed:
    """A stream whose first chunk was already made; ``close`` (the WSGI server's, when the
    client goes away) reaches the generator, so an abandoned download is ended at once."""

    def __init__(self, first: bytes, rest: Iterator[bytes]) -> None:
        self._first: bytes | None = first
        self._rest = rest

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            if first:
                return first
        return next(self._rest)

    def close(self) -> None:
        close = getattr(self._rest, "close", None)
        if close is not None:
            close()


class _Window:
    """``length`` bytes of ``stream`` from ``start`` on; what comes before is read and dropped."""

    def __init__(self, stream: _Primed, start: int, length: int) -> None:
        self._stream, self._skip, self._left = stream, start, length

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        while self._left > 0:
            chunk = next(self._stream)
            if self._skip >= len(chunk):
                self._skip -= len(chunk)
                continue
            piece = chunk[self._skip : self._skip + self._left]
            self._skip, self._left = 0, self._left - len(piece)
            return piece
        self.close()
        raise StopIteration

    def close(self) -> None:
        self._stream.close()


def _token_or_quoted(name: str) -> str:
    """The seed's ``filename=<asset_id>.zip`` as is when it is a plain token, quoted otherwise."""
    plain = all(ch.isalnum() or ch in "-._~!#$&+^`|" for ch in name)
    return name if plain else f'"{name}"'
