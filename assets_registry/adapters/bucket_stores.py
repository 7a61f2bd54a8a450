"""One blob store per registry bucket: its own S3 bucket, Swift container or folder.

By default a registry bucket is a key prefix of the one blob store (``assets/b.<name>/``).
With ``bucket_blobs_url`` set to a blob-store URL holding ``{bucket}`` (for example
``s3://assets-{bucket}?endpoint_url=…&create_bucket=true`` or a ``ceph://`` URL whose
container is ``assets-{bucket}``), ``BucketStores`` routes the keys of each registry bucket
to the store that URL opens for it; every other key (uploads into the default bucket,
staging, ZIP frames) stays in the main store. Keys keep their whole form in the bucket's
store, so a blob URL names its registry bucket and any process can map it back to a key,
whether or not it has opened that bucket yet.

A bucket's store is opened on first use, and for a URL only when that bucket exists (client
URLs are mapped too: a made-up ``…/assets/b.<name>/…`` must not open stores). Writing a
bucket's marker (``.bucket``, what the Asset Store writes to make or remake a bucket) that
fails opens the store again and tries once more: an S3 bucket deleted behind the registry's back is created again there
(``create_bucket=true``), as the workers' bucket check expects.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby

from assets_registry.core.bucket_names import FILES_PREFIX, bucket_of_key
from assets_registry.core.ports import BlobInfo, BlobStore, StoredBlob

PLACEHOLDER = "{bucket}"
_MARKER = ".bucket"
_BUCKET_IN_URL = re.compile(r"assets/b\.([a-z0-9][a-z0-9-]{1,61}[a-z0-9])(?:~[0-9]+)?/")


class BucketStores:
    """``core.ports.BlobStore`` over a main store and one store per registry bucket."""

    def __init__(
        self,
        main: BlobStore,
        open_store: Callable[[str], BlobStore],
        bucket_names: Callable[[], Iterable[str]],
        bucket_exists: Callable[[str], bool],
    ) -> None:
        self.main = main
        self._open = open_store
        self._names = bucket_names
        self._exists = bucket_exists
        self._stores: dict[str, BlobStore] = {}
        self._retired: list[BlobStore] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BucketStores({self.main!r}, {len(self._stores)} bucket stores open)"

    def store_of(self, bucket: str) -> BlobStore:
        with self._lock:
            store = self._stores.get(bucket)
        if store is not None:
            return store
        opened = self._open(bucket)  # outside the lock: a slow gateway holds up no other bucket
        with self._lock:
            store = self._stores.setdefault(bucket, opened)
        if store is not opened:
            opened.close()
        return store

    def _reopen(self, bucket: str) -> BlobStore:
        """A fresh store for the bucket; the old one is closed only with this one (a read may use it)."""
        with self._lock:
            old = self._stores.pop(bucket, None)
            if old is not None:
                self._retired.append(old)
        return self.store_of(bucket)

    def _route(self, key: str) -> BlobStore:
        bucket = bucket_of_key(key)
        return self.main if bucket is None else self.store_of(bucket)

    # -- the port ------------------------------------------------------------------------

    def put(self, key: str, chunks: Iterable[bytes], transient: bool = False) -> BlobInfo:
        bucket = bucket_of_key(key)
        if bucket is None:
            return self.main.put(key, chunks, transient)
        if key != f"{FILES_PREFIX}b.{bucket}/{_MARKER}":
            return self.store_of(bucket).put(key, chunks, transient)
        body = b"".join(chunks)  # a marker: a few bytes, written again if the first try fails
        try:
            return self.store_of(bucket).put(key, [body], transient)
        except Exception:
            return self._reopen(bucket).put(key, [body], transient)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        return self._route(key).read(key, start, length)

    def stat(self, key: str) -> BlobInfo:
        return self._route(key).stat(key)

    def missing(self, keys: Sequence[str]) -> list[str]:
        gone: set[str] = set()
        for bucket, group in groupby(sorted(keys, key=lambda k: bucket_of_key(k) or ""), key=bucket_of_key):
            store = self.main if bucket is None else self.store_of(bucket)
            gone.update(store.missing(list(group)))
        return [key for key in keys if key in gone]

    def read_many(self, items: Iterable[tuple[str, int]]) -> Iterator[bytes]:
        for bucket, run in groupby(items, key=lambda item: bucket_of_key(item[0])):
            store = self.main if bucket is None else self.store_of(bucket)
            yield from store.read_many(list(run))

    def delete(self, key: str) -> None:
        self._route(key).delete(key)

    def listing(self, folder: str) -> Iterator[StoredBlob]:
        bucket = bucket_of_key(folder)
        if bucket is not None:
            yield from self.store_of(bucket).listing(folder)
            return
        yield from self.main.listing(folder)
        if FILES_PREFIX.startswith(folder):  # "" or "assets/": every bucket's store holds some of it
            for name in self._names():
                yield from self.store_of(name).listing(folder)

    def key_for_url(self, url: str) -> str | None:
        """Asked of any URL a client sends: a bucket's store is opened only for a bucket that exists."""
        for found in _BUCKET_IN_URL.finditer(url):
            name = found.group(1)
            with self._lock:
                known = name in self._stores
            if known or self._exists(name):
                key = self.store_of(name).key_for_url(url)
                if key is not None and bucket_of_key(key) == name:
                    return key
        return self.main.key_for_url(url)

    def check(self) -> None:
        self.main.check()

    def close(self) -> None:
        with self._lock:
            stores, self._stores = [*self._stores.values(), *self._retired], {}
            self._retired = []
        for store in [self.main, *stores]:
            store.close()
