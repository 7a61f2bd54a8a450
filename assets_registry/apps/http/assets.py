"""The write routes of the seed: ``POST /assets``, ``PUT`` and ``DELETE /assets/{asset_id}``.

Resources stay thin: read the body, call a ``Registry`` use case, render the answer. Each
answer carries the asset's revision as ``ETag``; ``If-Match`` on PUT and DELETE makes the
change conditional (412 if someone else changed the asset first).
"""

from __future__ import annotations

from urllib.parse import quote

import falcon

from assets_registry.apps.http.bodies import read_json, send_json
from assets_registry.core.errors import InvalidInput
from assets_registry.core.ports import StoredAsset
from assets_registry.core.registry import Registry


def etag(stored: StoredAsset) -> str:
    return f'"{stored.revision}"'


def expected_revision(req: falcon.Request) -> int | None:
    """The revision an ``If-Match`` header names (None if absent or ``*``)."""
    header = req.get_header("If-Match")
    if header is None or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    if not (tag.isascii() and tag.isdigit()):  # int() would take '²' or Arabic digits
        raise InvalidInput(f"If-Match must be an ETag this server sent, such as '\"3\"'; got {header!r}.")
    return int(tag)


def send_asset(resp: falcon.Response, stored: StoredAsset, status: int = 200) -> None:
    resp.set_header("ETag", etag(stored))
    send_json(resp, stored.document, status)


class AssetsResource:
    """``/assets``: create."""

    def __init__(self, registry: Registry, max_body_bytes: int) -> None:
        self.registry = registry
        self.max_body_bytes = max_body_bytes

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        stored = self.registry.create(read_json(req, self.max_body_bytes))
        resp.location = f"/query/by-id/{quote(stored.asset_id, safe='')}"
        send_asset(resp, stored, 201)


class AssetResource:
    """``/assets/{asset_id}``: update, delete (and read, for REST clients)."""

    def __init__(self, registry: Registry, max_body_bytes: int) -> None:
        self.registry = registry
        self.max_body_bytes = max_body_bytes

    def on_put(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        changes = read_json(req, self.max_body_bytes)
        send_asset(resp, self.registry.update(asset_id, changes, expected_revision(req)))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, asset_id: str) -> None:
        self.registry.delete(asset_id, expected_revision(req))
        send_json(resp, {"success": True, "asset_id": asset_id})
