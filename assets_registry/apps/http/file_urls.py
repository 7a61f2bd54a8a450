"""``files[].asset_file_url`` as a URL a client can use: ``<base>/assets/{asset_id}/files/{file_id}``.

The store keeps each file's blob URL (``file://``, ``s3://``, …: where the server reads it);
answers show a stored file at the route that streams it (``apps.http.files``) instead, and a
file stored elsewhere (an ``https://`` URL a client gave) as it is. ``<base>`` is the setting
``public_url`` (``ASSETS_PUBLIC_URL``, e.g. ``https://registry.example.org/api``) when set —
what to use behind a proxy — else the request's own scheme, host and root path (a proxy that
passes ``Host`` and ``X-Forwarded-Proto`` gets its own names; the latter is trusted from a
proxy on the same host, ``apps.granian_server.trust_forwarded_proto``). A document sent
back with such a URL (``PUT`` after ``GET``) names the same stored file: it is kept as
stored. ETags are of the stored document, so they do not change with the base. Searches
match the stored URLs (docs/search.md).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urlsplit

import falcon

from assets_registry.core.ports import BlobStore

Document = dict[str, Any]


def file_path(asset_id: str, file_id: str) -> str:
    return f"/assets/{quote(asset_id, safe='')}/files/{quote(file_id, safe='/')}"


class FileUrls:
    """Falcon middleware: ``req.context.present(document)`` shows a document's stored files at
    their route, for this request's base."""

    def __init__(self, blobs: BlobStore, public_url: str = "") -> None:
        self.blobs, self.public_url = blobs, public_url.rstrip("/")

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        base = self.public_url or req.prefix
        req.context.present = lambda document: self.present(document, base)

    def present(self, document: Document, base: str) -> Document:
        files = document.get("files")
        if not isinstance(files, list) or not files:
            return document
        asset_id = str(document.get("asset_id", ""))
        shown = [self._shown(entry, asset_id, base) for entry in files]
        return {**document, "files": shown}

    def _shown(self, entry: Any, asset_id: str, base: str) -> Any:
        if not isinstance(entry, dict) or self.blobs.key_for_url(str(entry.get("asset_file_url", ""))) is None:
            return entry
        return {**entry, "asset_file_url": base + file_path(asset_id, str(entry.get("asset_file_id", "")))}

    def restore(self, asset_id: str, changes: dict[str, Any], current: Document) -> dict[str, Any]:
        """``changes`` with each file URL that names this asset's stored file by its route put back
        as the stored one (``present``'s inverse); anything else as sent."""
        if not isinstance(changes, dict) or not isinstance(changes.get("files"), list):
            return changes
        stored = {
            str(f.get("asset_file_id")): f.get("asset_file_url")
            for f in current.get("files") or []
            if isinstance(f, dict) and self.blobs.key_for_url(str(f.get("asset_file_url", ""))) is not None
        }

        def kept(entry: Any) -> Any:
            if not isinstance(entry, dict) or not isinstance(entry.get("asset_file_url"), str):
                return entry
            file_id = str(entry.get("asset_file_id", ""))
            path = unquote(urlsplit(entry["asset_file_url"]).path)
            if file_id in stored and path.endswith(f"/assets/{asset_id}/files/{file_id}"):
                return {**entry, "asset_file_url": stored[file_id]}
            return entry

        return {**changes, "files": [kept(entry) for entry in changes["files"]]}
