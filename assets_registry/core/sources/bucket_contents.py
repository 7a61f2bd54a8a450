"""What a bucket holds besides its sources: the assets uploaded into it (``POST /zip/upload?bucket=``).

An upload into a named bucket writes its files under the bucket's folder (``core.bundles.keys``),
so "the assets in bucket B" are the assets with a file URL in B's folder: found with the
registry's own search (a ``$regex`` anchored on the folder's URL), which every metadata store
answers. Deleting a bucket is rare; that search is not indexed and need not be.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assets_registry.core.errors import AssetNotFound, Conflict, FieldError, InvalidInput, NotFound
from assets_registry.core.sources.model import DEFAULT_BUCKET, bucket_name_problem

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
    """The ids of assets with a file in the bucket's folder (all of them, or the first ``limit``)."""
    from assets_registry.core.sources.asset_store import MARKER, bucket_folder

    marker = bucket_folder(name) + MARKER
    try:
        folder_url = store.blobs.stat(marker).url.removesuffix(MARKER)
    except Exception:  # the marker vanished (the workers will remake it): write it to learn the URL
        store.make_bucket(name, "bucket_recreated", "the bucket had vanished from the store: made again")
        folder_url = store.blobs.stat(marker).url.removesuffix(MARKER)
    folder = folder_url.removesuffix("/")  # b.<name>/ and b.<name>~<step>/ (mutated copies)
    query = {"files.asset_file_url": {"$regex": "^" + re.escape(folder) + "(/|~[0-9]+/)"}}
    found: list[str] = []
    after: str | None = None
    while limit is None or len(found) < limit:
        page = store.registry.search(query, _PAGE, after)
        found += [str(document["asset_id"]) for document in page.documents]
        if page.next_after is None:
            break
        after = page.next_after
    return found[:limit] if limit is not None else found


def empty_bucket(store: AssetStore, name: str, force: bool) -> None:
    """Refuse (``BucketNotEmpty``) or, with ``force``, delete the assets uploaded into the bucket."""
    from assets_registry.core.sources.asset_store import BucketNotEmpty

    if name == DEFAULT_BUCKET:
        raise DefaultBucket(
            "The default bucket holds every upload made without ?bucket= and cannot be deleted; "
            "delete its assets one by one if they must go."
        )
    if not force:
        if shown := assets_in(store, name, 6):
            listed = ", ".join(shown[:5]) + (" …" if len(shown) > 5 else "")
            raise BucketNotEmpty(
                f"The bucket {name!r} holds the assets {listed}; delete them first, "
                "or use ?force=true to delete them too."
            )
        return
    for asset_id in assets_in(store, name):
        try:
            store.registry.delete(asset_id)
        except AssetNotFound:
            continue
