"""The write routes of the seed: ``POST /assets``, ``PUT`` and ``DELETE /assets/{asset_id}``.

Resources stay thin: read the body, call a ``Registry`` use case, render the answer. Each
answer carries ``ETag: "<revision>.<digest>"``, the digest being the first 16 hex digits of the
SHA-256 of the stored JSON, so an ETag never names two contents of one asset id, even across
a delete and a re-create (revisions restart at 1). ``If-Match`` on PUT and DELETE makes the
change conditional (412 if someone else changed the asset first); the bare ``"<revision>"``
of earlier versions is still accepted there.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

import falcon
import msgspec

from assets_registry.apps.http.bodies import read_json, send_json
from assets_registry.apps.http.file_urls import FileUrls
from assets_registry.core.errors import InvalidInput, RevisionMismatch
from assets_registry.core.ports import StoredAsset
from assets_registry.core.registry import Registry

_HEX = re.compile(r"[0-9a-f]{16}")


def digest(stored: StoredAsset) -> str:
    text = stored.json if stored.json is not None else msgspec.json.encode(stored.document)
    return hashlib.sha256(text).hexdigest()[:16]


def etag(stored: StoredAsset) -> str:
    return f'"{stored.revision}.{digest(stored)}"'


def expected_revision(req: falcon.Request, registry: Registry, asset_id: str) -> int | None:
    """The revision an ``If-Match`` header names (None if absent or ``*``); with a digest, the
    stored version must have that content too (``RevisionMismatch`` otherwise)."""
    header = req.get_header("If-Match")
    if header is None or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    revision, dot, wanted = tag.partition(".")
    if not (revision.isascii() and revision.isdigit()) or (dot and not _HEX.fullmatch(wanted)):
        raise InvalidInput(
            f"If-Match must be an ETag this server sent, such as '\"3.5d41402abc4b2a76\"'; got {header!r}."
        )
    if dot:
        current = registry.get(asset_id)
        if current.revision != int(revision) or digest(current) != wanted:
            raise RevisionMismatch(asset_id)
    return int(revision)


def send_asset(
    req: falcon.Request, resp: falcon.Response, stored: StoredAsset, status: int = 200, tag: str | None = None
) -> None:
    """The stored document with its ETag (``tag``, if the caller computed it); its files at their
    routes (``file_urls``)."""
    resp.set_header("ETag", tag or etag(stored))
    send_json(resp, req.context.present(stored.document), status)


class AssetsResource:
    """``/assets``: create."""

    def __init__(self, registry: Registry, max_body_bytes: int) -> None:
        self.registry = registry
        self.max_body_bytes = max_body_bytes

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        stored = self.registry.create(read_json(req, self.max_body_bytes))
        resp.location = f"/query/by-id/{quote(stored.asset_id, safe='')}"
        send_asset(req, resp, stored, 201)


class AssetResource:
    """``/assets/{asset_id}``: update, delete (and read, for REST clients)."""

    def __init__(self, registry: Registry, max_body_bytes: int, file_urls: FileUrls) -> None:
        self.registry = registry
        self.max_body_bytes = max_body_bytes
        self.file_urls = file_urls

    def on_put(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        changes = read_json(req, self.max_body_bytes)
        expected = expected_revision(req, self.registry, asset_id)
        # Files as answers show them (their routes) are the stored ones, of the version written to.
        restore = lambda given, current: self.file_urls.restore(asset_id, given, current)  # noqa: E731
        send_asset(req, resp, self.registry.update(asset_id, changes, expected, restore))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        self.registry.delete(asset_id, expected_revision(req, self.registry, asset_id))
        send_json(resp, {"success": True, "asset_id": asset_id})
