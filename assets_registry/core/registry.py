"""Use cases on asset documents: create, update, delete, get, the five lookups, search.

Every write goes through ``_checked``: the document is validated as a whole by the model,
then by every configured validator, before the store sees it. The ZIP ingest uses
``create`` too, so a bundle's asset obeys the same rules as one posted to ``/assets``.

Every write is recorded in the history (``core.history``): in the store's own transaction
where it can (it takes the ``pending()`` change), right after the write otherwise; the
versions written are kept as revisions, pruned to ``keep_revisions`` / ``keep_revision_days``.

A request acting as a token limited to some buckets (``core.access.current()``) sees only
their assets: lookups and search ask the store for those buckets' assets only (so no page,
cursor or count is made of the others), a single asset outside them is not found, and a new
or changed asset must stay in one of them.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

import msgspec

from assets_registry.core import access, history
from assets_registry.core.errors import AssetNotFound, FieldError, ForeignBlob, InvalidAsset, RevisionMismatch
from assets_registry.core.filters import Filter, FilterLimits, compile_filter
from assets_registry.core.lookups import Lookup, lookup_query
from assets_registry.core.model import Asset, asset_from_document, asset_to_document
from assets_registry.core.pagination import PageLimits
from assets_registry.core.ports import Document, MetadataStore, Page, StoredAsset, Validator

_T = TypeVar("_T")
log = logging.getLogger(__name__)
_UPDATE_RETRIES = 40
_UPDATE_BACKOFF_SECONDS = 0.002
_UPDATE_BACKOFF_MAX_SECONDS = 0.05


class Registry:
    """The registry's use cases over one metadata store and a set of validators."""

    def __init__(
        self,
        store: MetadataStore,
        validators: Sequence[Validator] = (),
        page_limits: PageLimits | None = None,
        filter_limits: FilterLimits | None = None,
        blob_key: Callable[[str], str | None] | None = None,
        history_store: history.HistoryStore | None = None,
        keep_revisions: int = 0,
        keep_revision_days: float = 0.0,
    ) -> None:
        """``blob_key`` is the blob store's ``key_for_url``: a file URL into the registry's own
        store must name a blob of that same asset (see ``_foreign_blobs``)."""
        self.store = store
        self.blob_key = blob_key
        self.history = history_store
        self.keep_revisions, self.keep_revision_days = keep_revisions, keep_revision_days
        self.validators = tuple(validators)
        self.page_limits = page_limits or PageLimits()
        self.filter_limits = filter_limits or FilterLimits()
        self._replaced: list[Callable[[StoredAsset], None]] = []

    def on_replaced(self, listener: Callable[[StoredAsset], None]) -> None:
        """Call ``listener`` with the stored asset an update or delete has just replaced.

        For what is derived from one version of an asset (the ZIP frames of its download):
        once that version is gone, it can go too. A listener's failure is its own to log;
        the write has happened.
        """
        self._replaced.append(listener)

    def _replaced_by_write(self, old: StoredAsset) -> None:
        for listener in self._replaced:
            listener(old)

    # -- writes -------------------------------------------------------------------------

    def create(self, document: Any, own_keys: Collection[str] = ()) -> StoredAsset:
        """Validate and store a new asset; ``AssetExists`` if the id is taken.

        ``own_keys`` are the blobs the caller wrote for this asset (the ZIP ingest's members):
        its files may point into the registry's store there, and nowhere else.
        """
        asset = self._checked(document)
        self._foreign_blobs(asset, own_keys)
        new = asset_to_document(asset)
        principal = access.current()
        if principal is not None:
            principal.require_bucket(access.bucket_of_document(new, self.blob_key))
        return self._recorded("asset.created", new, new, None, lambda: self.store.insert(new))

    def update(
        self,
        asset_id: str,
        changes: Any,
        expected_revision: int | None = None,
        against: Callable[[dict[str, Any], Document], dict[str, Any]] | None = None,
    ) -> StoredAsset:
        """Change only the top-level fields given; the result is validated as a whole.

        With ``expected_revision`` (HTTP ``If-Match``) the update applies only to that
        revision. Without it, concurrent updates are retried on the fresh document, so two
        clients changing different fields both see their change kept. ``against(changes,
        current)`` adapts the changes to the version they are applied to, at each try.
        """
        if not isinstance(changes, dict):
            raise InvalidAsset([FieldError("", "an update must be a JSON object of the fields to change")])
        if "asset_id" in changes and changes["asset_id"] != asset_id:
            raise InvalidAsset(
                [
                    FieldError(
                        "asset_id",
                        f"cannot be changed (the asset is {asset_id!r}); create a new asset instead",
                    )
                ]
            )

        def write(current: StoredAsset) -> StoredAsset:
            applied = changes if against is None else against(changes, current.document)
            return self._write_version(current, {**current.document, **applied}, ())

        return self._on_fresh_version(asset_id, expected_revision, write)

    def replace(self, asset_id: str, document: Any, own_keys: Collection[str] = ()) -> StoredAsset:
        """Store ``document`` as the asset's whole new version (a source imported again).

        Its files may point at the blobs the current version points at and at ``own_keys``
        (the import's own); concurrent writes are retried on the fresh version.
        """

        def write(current: StoredAsset) -> StoredAsset:
            return self._write_version(current, document, own_keys)

        return self._on_fresh_version(asset_id, None, write)

    def _write_version(self, current: StoredAsset, document: Any, own_keys: Collection[str]) -> StoredAsset:
        """``document`` checked and stored over ``current`` (unless it is the same JSON); its files
        may point at the blobs ``current`` points at and at ``own_keys``."""
        asset = self._checked(document)
        self._foreign_blobs(asset, self._keys_of(current.document) | set(own_keys))
        new = asset_to_document(asset)
        access.require_bucket(access.bucket_of_document(new, self.blob_key))  # not moved out of reach
        if _same_json(new, current.document):
            return current
        updated = self._recorded(
            "asset.updated",
            new,
            new,
            current.revision,
            lambda: self.store.update(current.asset_id, new, current.revision),
        )
        self._replaced_by_write(current)
        return updated

    def delete(self, asset_id: str, expected_revision: int | None = None) -> None:
        """Delete the asset (only at ``expected_revision`` if given: HTTP ``If-Match``).

        With listeners, the version deleted is read first and the delete made at its
        revision, so that they hear of exactly the version that went.
        """
        if not self._replaced and self.history is None:
            self.store.delete(asset_id, expected_revision)
            return

        def write(current: StoredAsset) -> None:
            self._recorded(
                "asset.deleted", current.document, None, current.revision,
                lambda: self.store.delete(asset_id, current.revision),
            )  # fmt: skip
            self._replaced_by_write(current)

        self._on_fresh_version(asset_id, expected_revision, write)

    def _on_fresh_version(self, asset_id: str, expected_revision: int | None, write: Callable[[StoredAsset], _T]) -> _T:
        """``write`` the stored version, at its revision; if another write got there first, again
        on the fresh version (with backoff), unless ``expected_revision`` pins the version."""
        for attempt in range(_UPDATE_RETRIES):
            if attempt:
                _back_off(attempt)
            current = self._seen(self.store.get(asset_id))
            if expected_revision is not None and current.revision != expected_revision:
                raise RevisionMismatch(asset_id)
            try:
                return write(current)
            except RevisionMismatch:
                if expected_revision is not None:
                    raise
        raise RevisionMismatch(asset_id)

    def _foreign_blobs(self, asset: Asset, own: Collection[str]) -> None:
        """Refuse file URLs naming a blob of the registry's own store that is not this asset's.

        Without this, ``POST /assets`` could point a file at another asset's blob, and the
        new asset's ZIP download would serve that other asset's bytes. An asset's own blobs
        are those its upload wrote, and those its current version already points at.
        """
        if self.blob_key is None:
            return
        own = set(own)  # a bundle of 100,000 files: one lookup each, not a scan
        errors = [
            FieldError(
                f"files[{n}].asset_file_url",
                f"names the blob {key!r} of this registry's store, which belongs to no file of this asset; "
                "upload the file in a ZIP bundle, or give a URL outside the registry's store",
            )
            for n, file in enumerate(asset.files)
            if (key := self.blob_key(file.asset_file_url)) is not None and key not in own
        ]
        if errors:
            raise ForeignBlob(errors)

    def _keys_of(self, document: dict[str, Any]) -> set[str]:
        """The blobs of the registry's store a stored version's files point at."""
        blob_key = self.blob_key
        if blob_key is None:
            return set()
        keys = (blob_key(str(f.get("asset_file_url", ""))) for f in document.get("files") or [])
        return {key for key in keys if key is not None}

    def validate(self, document: Any) -> Asset:
        """The asset a document describes, if the model and every validator accept it."""
        return self._checked(document)

    def _checked(self, document: Any) -> Asset:
        asset = asset_from_document(document)
        errors: list[FieldError] = []
        for validator in self.validators:
            for error in validator.validate(asset):
                errors.append(FieldError(error.path, f"{error.message} (validator {validator.name})"))
        if errors:
            raise InvalidAsset(errors)
        return asset

    # -- reads --------------------------------------------------------------------------

    def get(self, asset_id: str) -> StoredAsset:
        return self._seen(self.store.get(asset_id))

    def lookup(self, lookup: Lookup, value: str, limit: int | None = None, after: str | None = None) -> Page:
        size = self.page_limits.resolve(limit)
        finders = {
            Lookup.TYPE: self.store.find_by_type,
            Lookup.SUB_TYPE: self.store.find_by_sub_type,
            Lookup.TAG: self.store.find_by_tag,
            Lookup.API_ROUTE: self.store.find_by_api_route,
        }
        if self._limits() is not None:  # the store's own lookups know nothing of buckets
            return self._seen_page(self.store.find(self._limited(lookup_query(lookup, value)), size, after))
        return self._seen_page(finders[lookup](value, size, after))

    def search(self, filter_document: Any, limit: int | None = None, after: str | None = None) -> Page:
        """Assets matching a filter in the accepted subset of MongoDB queries."""
        flt = compile_filter(filter_document, self.filter_limits)  # the client's filter, within the limits
        if self._limits() is not None:
            flt = self._limited(filter_document)
        return self._seen_page(self.store.find(flt, self.page_limits.resolve(limit), after))

    def _limited(self, filter_document: Any) -> Filter:
        """The filter, and: in one of the acting token's buckets (by the key part of file URLs)."""
        buckets = self._limits() or frozenset()
        return compile_filter({"$and": [filter_document, access.buckets_filter(buckets)]})

    # -- the history ----------------------------------------------------------------------

    def _recorded(
        self, action: str, about: Document, document: Document | None, before: int | None, write: Callable[[], _T]
    ) -> _T:
        """``write()``, its change recorded: by the store in its transaction if it takes it, else after."""
        if self.history is None:
            return write()
        bucket = access.bucket_of_document(about, self.blob_key)
        note = history.Pending(history.change(action, asset_id=str(about["asset_id"]), bucket=bucket), document)
        with history.recording(note):
            result = write()
        try:
            if not note.taken:
                after = result.revision if isinstance(result, StoredAsset) else None
                self.history.append(note.take(before, after), document)
            if self.keep_revisions or self.keep_revision_days:  # deletes too: a gone asset's revisions age out
                days = self.keep_revision_days
                self.history.prune(
                    note.change.asset_id or "", self.keep_revisions, time.time() - days * 86400 if days else None
                )
        except Exception:  # the write is done; its record is what failed
            log.exception("the %s of %s could not be recorded in the history", action, about.get("asset_id"))
        return result

    # -- what a limited token sees -------------------------------------------------------

    def _limits(self) -> frozenset[str] | None:
        return access.limits()

    def _seen(self, stored: StoredAsset) -> StoredAsset:
        buckets = self._limits()
        if buckets is not None and access.bucket_of_document(stored.document, self.blob_key) not in buckets:
            raise AssetNotFound(stored.asset_id)  # not even its existence is told
        return stored

    def _seen_page(self, page: Page) -> Page:
        """The page without the assets of other buckets; its cursor unchanged (a page may come out short)."""
        buckets = self._limits()
        if buckets is None:
            return page
        kept = [d for d in page.documents if access.bucket_of_document(d, self.blob_key) in buckets]
        return Page(kept, page.next_after)


def _same_json(a: Any, b: Any) -> bool:
    """Whether two documents are written the same way in JSON.

    Python's ``==`` would call ``{"x": 1}`` and ``{"x": true}`` (or ``1.0``, or the same keys in
    another order) equal, and an update making such a change would be dropped as a no-op.
    """
    return msgspec.json.encode(a) == msgspec.json.encode(b)


def _back_off(attempt: int) -> None:
    """Wait a random, growing while before retrying a lost race.

    Writers that retry at once collide again and again (seen: three processes updating one
    asset ran out of eight immediate retries); a jittered wait spreads them out.
    """
    ceiling = min(_UPDATE_BACKOFF_MAX_SECONDS, _UPDATE_BACKOFF_SECONDS * 2**attempt)
    time.sleep(random.uniform(0, ceiling))
