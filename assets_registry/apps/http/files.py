"""``GET``/``HEAD /assets/{asset_id}/files/{file_id}``: one stored file of an asset, streamed.

``Content-Type`` is the file's MIME type; ``ETag`` its SHA-256 (quoted hex) and
``Repr-Digest: sha-256=:<base64>:`` (RFC 9530) when the registry recorded it; ``Accept-Ranges:
bytes``. One range (``bytes=a-b``, ``a-``, ``-n``) answers 206 with ``Content-Range``; a range
that starts past the end answers 416 with ``Content-Range: bytes */<size>``; several ranges
are answered whole (RFC 9110 lets a server ignore ``Range``). ``If-None-Match`` answers 304,
``If-Range`` with another ETag answers the whole file. A file whose URL is outside the
registry's store (``POST /assets`` may name one) is 404 ``file_not_stored`` naming the URL.
The files of assets in ``readonly``/``readwrite`` buckets are readable without a token.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import falcon

from assets_registry.apps.http.bodies import etag_matches
from assets_registry.core.errors import NotFound
from assets_registry.core.ports import BlobStore
from assets_registry.core.registry import Registry

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class FileNotFound(NotFound):
    code = "file_not_found"


class FileNotStored(NotFound):
    code = "file_not_stored"


class AssetFileResource:
    public_in_readable_buckets = True

    def __init__(self, registry: Registry, blobs: BlobStore) -> None:
        self.registry, self.blobs = registry, blobs

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset_id: str, file_id: str) -> None:
        entry = next((f for f in self.registry.get(asset_id).document.get("files") or []
                      if f.get("asset_file_id") == file_id), None)  # fmt: skip
        if entry is None:
            raise FileNotFound(f"The asset {asset_id!r} has no file {file_id!r}.")
        url = str(entry.get("asset_file_url", ""))
        key = self.blobs.key_for_url(url)
        if key is None:
            raise FileNotStored(f"The file {file_id!r} is not stored in this registry; it is at {url}.")
        metadata: dict[str, Any] = entry.get("asset_file_metadata") or {}
        size = self.blobs.stat(key).size
        sha256 = metadata.get("sha256") if isinstance(metadata.get("sha256"), str) else None
        tag = f'"{sha256}"' if sha256 else None
        resp.content_type = str(entry.get("asset_file_mime_type") or "application/octet-stream")
        resp.set_header("Accept-Ranges", "bytes")
        if tag:
            resp.set_header("ETag", tag)
            resp.set_header("Repr-Digest", f"sha-256=:{base64.b64encode(bytes.fromhex(sha256 or '')).decode()}:")
            if etag_matches(req.get_header("If-None-Match"), tag):
                resp.status, resp.content_type = falcon.HTTP_304, None
                return
        wanted = byte_range(req, size, tag)
        if wanted is None:
            resp.content_length = size
            resp.stream = self.blobs.read(key) if req.method != "HEAD" else None
            return
        start, end = wanted
        if start >= size:
            resp.status, resp.content_type = falcon.HTTP_416, None
            resp.set_header("Content-Range", f"bytes */{size}")
            return
        resp.status = falcon.HTTP_206
        resp.set_header("Content-Range", f"bytes {start}-{end}/{size}")
        resp.content_length = end - start + 1
        resp.stream = self.blobs.read(key, start, end - start + 1) if req.method != "HEAD" else None


def byte_range(req: falcon.Request, size: int, tag: str | None) -> tuple[int, int] | None:
    """The one byte range asked for, as ``(first, last)``; None for the whole file."""
    header = req.get_header("Range")
    if not header:
        return None
    condition = req.get_header("If-Range")
    if condition is not None and condition.strip() != tag:
        return None  # the client's copy is another version: it gets this one whole
    found = _RANGE.fullmatch(header.strip())
    if found is None or (not found.group(1) and not found.group(2)):
        return None  # several ranges, or a unit we do not serve: the whole file
    first, last = found.group(1), found.group(2)
    if not first:  # the last n bytes
        count = int(last)
        if count == 0:
            return (size, size)  # nothing can be sent: 416
        return (max(size - count, 0), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # not a valid range: ignored
    return (start, end)
