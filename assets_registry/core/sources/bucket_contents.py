"""What a bucket holds besides its sources: the assets uploaded into it (``POST /zip/upload?bucket=``).

An upload into a named bucket writes its files under the bucket's folder (``core.bundles.keys``),
so "the assets in bucket B" are the assets with a file in B's folder: found with the
registry's own search (a ``$regex`` on the key part of file URLs), which every metadata store
answers. Deleting a bucket is rare; that search is not indexed and need not be.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from assets_registry.core import access, history
from assets_registry.core.bucket_names import DEFAULT_BUCKET, bucket_name_problem
from assets_registry.core.bundles.keys import FILES_PREFIX
from assets_registry.core.errors import (
    AssetNotFound,
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    RecordChanged,
    RecordNotFound,
)

if TYPE_CHECKING:
    from assets_registry.core.sources.asset_store import AssetStore

_PAGE = 100


class BucketNotReady(Conflict):
    code = "bucket_not_ready"


class UnknownBucket(NotFound):
    code = "bucket_not_found"


class DefaultBucket(Conflict):
    code = "bucket_is_default"


def upload_bucket(store: AssetStore, name: str | None) -> str | None:
    """The bucket an upload names, checked before a byte of it is read; None for the default.

    404 ``bucket_not_found`` for an unknown name, 409 ``bucket_not_ready`` for one whose
    last check failed: an upload waits for nothing, so it is refused rather than parked.
    """
    access.require_bucket(name or DEFAULT_BUCKET)
    if not name or name == DEFAULT_BUCKET:
        return None
    if problem := bucket_name_problem(name):
        raise InvalidInput(f"?bucket= {problem}.", [FieldError("bucket", problem)])
    try:
        document = store.catalog.get("buckets", name).document
    except NotFound:
        raise UnknownBucket(f"There is no bucket {name!r}; create it with PUT /buckets/{name} first.") from None
    phase = (document.get("status") or {}).get("phase")
    if phase != "Ready":
        message = (document.get("status") or {}).get("message", "")
        raise BucketNotReady(f"The bucket {name!r} is {phase or 'not Ready'} ({message}); try again once it is Ready.")
    return name


def assets_in(store: AssetStore, name: str, limit: int | None = None) -> list[str]:
    """The ids of assets with a file in the bucket's folder (all of them, or the first ``limit``).

    The search matches the key part of file URLs (``assets/b.<name>/`` or a mutated copy's
    ``assets/b.<name>~<n>/``), whatever store or endpoint the URL names; each match is then
    confirmed by mapping its URL back to one of this store's keys, so a URL elsewhere that only
    looks like one is not counted.
    """
    query = {"files.asset_file_url": {"$regex": re.escape(f"assets/b.{name}") + "(~[0-9]+)?/"}}
    found: list[str] = []
    after: str | None = None
    while limit is None or len(found) < limit:
        page = store.registry.search(query, _PAGE, after)
        found += [str(document["asset_id"]) for document in page.documents if _holds(store, name, document)]
        if page.next_after is None:
            break
        after = page.next_after
    return found[:limit] if limit is not None else found


def _holds(store: AssetStore, name: str, document: dict[str, Any]) -> bool:
    for entry in document.get("files") or []:
        key = store.blobs.key_for_url(str(entry.get("asset_file_url", ""))) or ""
        folder = key.removeprefix(FILES_PREFIX).split("/", 1)[0]
        if key.startswith(FILES_PREFIX) and folder.split("~", 1)[0] == f"b.{name}":
            return True
    return False


def refuse_default(name: str) -> None:
    if name == DEFAULT_BUCKET:
        raise DefaultBucket(
            "The default bucket holds every upload made without ?bucket= and cannot be deleted; "
            "delete its assets one by one if they must go."
        )


def refuse_assets(store: AssetStore, name: str) -> None:
    """``BucketNotEmpty`` naming the assets uploaded into the bucket, if any are."""
    from assets_registry.core.sources.asset_store import BucketNotEmpty

    if shown := assets_in(store, name, 6):
        listed = ", ".join(shown[:5]) + (" …" if len(shown) > 5 else "")
        raise BucketNotEmpty(
            f"The bucket {name!r} holds the assets {listed}; delete them first, or use ?force=true to delete them too."
        )


def delete_assets(store: AssetStore, name: str) -> None:
    """Every asset uploaded into the bucket (its files go with it)."""
    for asset_id in assets_in(store, name):
        try:
            store.registry.delete(asset_id)
        except AssetNotFound:
            continue


def check_buckets(store: AssetStore, interval: float) -> None:
    """Buckets due for a check: is the folder's marker there? Made again if it vanished."""
    from assets_registry.core.sources.asset_store import MARKER, bucket_folder, status

    for record in store.catalog.due("buckets", store.clock(), 100):
        name = record.key
        if (record.document.get("status") or {}).get("phase") == "Terminating":
            continue  # being deleted: not made again behind the delete's back
        try:
            store.blobs.stat(bucket_folder(name) + MARKER)
            checked = status("Ready", "bucket_verified", "the bucket was checked and is there",
                             last_checked=store.clock())  # fmt: skip
            if (record.document.get("status") or {}).get("phase") == "Ready":
                checked = {**record.document["status"], "last_checked": store.clock()}
        except Exception:
            checked = store.make_bucket(name, "bucket_recreated", "the bucket had vanished from the store: made again")
        try:
            store.catalog.replace(
                "buckets", name, {**record.document, "status": checked, "due": store.clock() + interval},
                record.version,
            )  # fmt: skip
        except (RecordChanged, RecordNotFound):
            continue
        if checked["phase"] == "Ready":
            store.wake(name)


def own_buckets(
    store: AssetStore, allowed: frozenset[str], limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A bucket-limited token's page of buckets: its own that exist, nothing of the others."""
    found: list[dict[str, Any]] = []
    for name in sorted(n for n in allowed if after is None or n > after):
        try:
            found.append(store.catalog.get("buckets", name).document)
        except RecordNotFound:
            continue
    page, next_after = _page(found, limit, "name")
    return [store.bucket_answer(d) for d in page], next_after


def own_sources(
    store: AssetStore, allowed: frozenset[str], limit: int, after: str | None, bucket: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """A bucket-limited token's page of sources: those of its own buckets, in asset_id order."""
    wanted = sorted(allowed if bucket is None else allowed & {bucket})
    found = sorted((r.document for b in wanted for r in store.catalog.records("sources", limit + 1, after, b)),
                   key=lambda d: str(d["asset_id"]))  # fmt: skip
    page, next_after = _page(found, limit, "asset_id")
    return [store.source_answer(d) for d in page], next_after


def _page(items: list[dict[str, Any]], limit: int, key: str) -> tuple[list[dict[str, Any]], str | None]:
    if len(items) > limit:
        return items[:limit], str(items[limit - 1][key])
    return items, None


def delete_bucket(store: AssetStore, name: str, force: bool = False) -> None:
    """The bucket, once nothing uses it; with ``force``, its sources and assets first.

    The bucket is ``Terminating`` while it goes, so no upload into it starts and a job still
    running refuses to register into it (``bucket_open``); without ``force`` it is Ready again
    if an asset landed in it meanwhile.
    """
    from assets_registry.core.sources.asset_store import MARKER, BucketNotEmpty, bucket_folder, status

    access.require_bucket(name)
    record = store.catalog.get("buckets", name)
    refuse_default(name)
    users = store.catalog.records("sources", 1000, bucket=name)
    if users and not force:
        shown = ", ".join(r.key for r in users[:5]) + (" …" if len(users) > 5 else "")
        raise BucketNotEmpty(
            f"The bucket {name!r} holds the sources {shown}; delete them first, or use ?force=true to delete them too."
        )
    if not force:
        refuse_assets(store, name)
    before = record.document.get("status") or {}
    going = status("Terminating", "bucket_deleting", "the bucket is being deleted")
    store.update_record("buckets", name, lambda d: {**d, "status": going})
    try:
        if not force:
            refuse_assets(store, name)  # one that registered before the bucket was Terminating
    except BucketNotEmpty:
        store.update_record("buckets", name, lambda d: {**d, "status": before})
        raise
    while users:
        for user in users:
            store.delete_source(user.key)
        users = store.catalog.records("sources", 1000, bucket=name)
    if force:
        delete_assets(store, name)
        steps = max(8, store.steps.most_mutation_steps())
        for folder in [bucket_folder(name)] + [f"{FILES_PREFIX}b.{name}~{n}/" for n in range(1, steps + 1)]:
            for blob in list(store.blobs.listing(folder)):
                store.blobs.delete(blob.key)
    store.blobs.delete(bucket_folder(name) + MARKER)
    store.catalog.delete("buckets", name)
    history.note(store.registry.history, "bucket.deleted", bucket=name, detail={"force": force})
