"""``core.ports.BlobStore`` on one bucket (and optional prefix) of an S3 service.

Keys follow the filesystem store's rules (``store_helpers.key_problem``), so a key accepted by
one store is accepted by the other. Blob URLs are ``s3://BUCKET/PREFIX/KEY`` with the key
percent-encoded; they name the object, not the endpoint, which stays configuration.
S3 makes every write durable, so ``transient`` only skips the sha256 (then None), as the
filesystem store does.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, unquote

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped, unused-ignore]

from assets_registry.adapters.s3.config import S3Config
from assets_registry.adapters.s3.failures import OUT_OF_RANGE, error_code, translated, unavailable
from assets_registry.adapters.s3.uploads import StreamingUpload
from assets_registry.core.errors import BlobNotFound, ConfigurationError, InvalidInput
from assets_registry.core.ports import BlobInfo, StoredBlob
from assets_registry.plugins.store_helpers import InvalidBlobKey, check_key, key_problem, missing_by_listing, read_ahead

READ_CHUNK = 1 << 20
MAX_OBJECT_KEY_BYTES = 1024
"""S3's limit on an object key (prefix included), in UTF-8 bytes."""


def make_client(config: S3Config) -> Any:
    """A boto3 S3 client that answers within seconds when the server is down, never hangs.

    Credentials given in the URL or the registry's environment are passed explicitly; without
    them boto3's own chain (profile, config files, container or instance roles) decides.
    """
    try:
        session = boto3.session.Session(
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            aws_session_token=config.session_token,
            profile_name=config.profile,
            region_name=config.region,
        )
    except BotoCoreError as exc:  # ProfileNotFound, a broken config file
        raise ConfigurationError(f"The s3:// blob store cannot load its AWS configuration: {exc}") from None
    settings = Config(
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        retries={"mode": "standard", "total_max_attempts": config.max_attempts},  # the first try included
        signature_version="s3v4",
        s3={"addressing_style": config.addressing_style},
    )
    return session.client(
        "s3",
        endpoint_url=config.endpoint_url,
        region_name=config.region or session.region_name or "us-east-1",
        config=settings,
    )


class S3BlobStore:
    """``core.ports.BlobStore`` on an S3 bucket."""

    def __init__(self, config: S3Config, client: Any) -> None:
        self.config = config
        self.bucket = config.bucket
        self._client = client
        self._url_prefix = config.url_prefix
        self._bucket_ready = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3BlobStore({self._url_prefix!r})"

    # -- keys and URLs ---------------------------------------------------------------

    def _object_key(self, key: str) -> str:
        object_key = self.config.object_key(check_key(key))
        if len(object_key.encode()) > MAX_OBJECT_KEY_BYTES:
            raise InvalidBlobKey(f"The blob key {key!r} is longer than S3's {MAX_OBJECT_KEY_BYTES} bytes.")
        return object_key

    def _info(self, key: str, size: int, sha256: str | None = None) -> BlobInfo:
        return BlobInfo(key=key, url=self._url_prefix + quote(key), size=size, sha256=sha256)

    def key_for_url(self, url: str) -> str | None:
        if not url.startswith(self._url_prefix):
            return None
        key = unquote(url[len(self._url_prefix) :])
        return None if key_problem(key) else key

    # -- the bucket ------------------------------------------------------------------

    def _ensure_bucket(self) -> None:
        """Check the bucket (creating it if asked to) on first use, not at construction.

        A registry then starts while S3 is still coming up, and the first request, or
        ``check()``, says what is wrong. Once it has answered, the bucket is not checked again.
        """
        if self._bucket_ready:
            return
        with self._lock:
            if not self._bucket_ready:
                self._probe()

    def _probe(self) -> None:
        """List at most one key: unlike HEAD, a GET's answer names why S3 refused (a HEAD says 403)."""
        try:
            self._client.list_objects_v2(Bucket=self.bucket, Prefix=self.config.prefix, MaxKeys=1)
        except ClientError as exc:
            if not (self.config.create_bucket and error_code(exc) == "NoSuchBucket"):
                raise unavailable(exc, self.bucket) from exc
            self._create_bucket()
        except BotoCoreError as exc:
            raise unavailable(exc, self.bucket) from exc
        self._bucket_ready = True

    def _create_bucket(self) -> None:
        region = self._client.meta.region_name
        where = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        try:
            self._client.create_bucket(Bucket=self.bucket, **where)
        except ClientError as exc:
            if error_code(exc) != "BucketAlreadyOwnedByYou":  # created meanwhile by another worker: fine
                raise unavailable(exc, self.bucket) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, self.bucket) from exc

    def check(self) -> None:
        with self._lock:
            self._probe()

    # -- blobs -----------------------------------------------------------------------

    def put(self, key: str, chunks: Iterable[bytes], transient: bool = False) -> BlobInfo:
        object_key = self._object_key(key)
        self._ensure_bucket()
        digest = None if transient else hashlib.sha256()
        upload = StreamingUpload(
            self._client, self.bucket, object_key, key, self.config.part_size, self.config.parts_in_flight
        )
        size = upload.run(chunks, digest)
        return self._info(key, size, digest.hexdigest() if digest is not None else None)

    def read(self, key: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        object_key = self._object_key(key)
        if start < 0 or (length is not None and length < 0):
            raise InvalidInput(f"A read of {key!r} needs a start and length of at least 0.")
        self._ensure_bucket()
        if length == 0:
            self.stat(key)  # no bytes wanted, but a missing blob is still not found
            return iter(())
        wanted: dict[str, str] = {}
        in_flight = self.config.parts_in_flight
        if in_flight > 1:  # the first segment only: the answer says how much follows
            first = self.config.part_size if length is None else min(length, self.config.part_size)
            wanted["Range"] = f"bytes={start}-{start + first - 1}"
        elif start or length is not None:
            end = "" if length is None else str(start + length - 1)
            wanted["Range"] = f"bytes={start}-{end}"
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=object_key, **wanted)
        except ClientError as exc:
            if error_code(exc) in OUT_OF_RANGE:  # the blob exists but ends before ``start``
                return iter(())
            raise unavailable(exc, self.bucket, key) from exc
        except BotoCoreError as exc:
            raise unavailable(exc, self.bucket, key) from exc
        # A server that ignores Range answers 200 with the whole object: skip to ``start`` then.
        partial = answer.get("ResponseMetadata", {}).get("HTTPStatusCode") == 206
        if in_flight > 1 and partial:
            size = str(answer.get("ContentRange", "")).rpartition("/")[2]
            if not size.isdigit():  # S3 always says it; a server that does not cannot be read in segments
                answer["Body"].close()
                raise unavailable(OSError(f"a range answer without the object's size ({size!r})"), self.bucket, key)
            stop = int(size) if length is None else min(int(size), start + length)
            following = start + int(answer["ContentLength"])
            if following < stop:
                version = str(answer.get("ETag", ""))
                return self._segments(answer["Body"], object_key, key, following, stop, version)
        return self._stream(answer["Body"], key, 0 if partial or not wanted else start, length)

    def _segments(
        self, body: Any, object_key: str, key: str, following: int, end: int, version: str
    ) -> Iterator[bytes]:
        """The first segment's body, then the rest of ``[following, end)`` in segments of
        ``part_size``, ``parts_in_flight`` of them fetched at once and yielded in order (memory:
        ``parts_in_flight + 1`` segments), each only from the version the first came from
        (``If-Match``: a blob replaced meanwhile fails the read instead of mixing versions)."""
        size = self.config.part_size
        starts = iter(range(following, end, size))
        fetching: deque[Future[bytes]] = deque()
        same_version = {"IfMatch": version} if version else {}
        fetchers = ThreadPoolExecutor(self.config.parts_in_flight, thread_name_prefix="s3-segment")

        def fetch(offset: int) -> bytes:
            last = min(offset + size, end) - 1
            with translated(self.bucket, key):
                answer = self._client.get_object(
                    Bucket=self.bucket, Key=object_key, Range=f"bytes={offset}-{last}", **same_version
                )
                data: bytes = answer["Body"].read()
            if len(data) != last - offset + 1:  # the object changed or ended: never a silent gap
                raise unavailable(
                    OSError(f"segment {offset}-{last} came back with {len(data)} bytes"), self.bucket, key
                )
            return data

        def top_up() -> None:
            while len(fetching) < self.config.parts_in_flight and (offset := next(starts, None)) is not None:
                fetching.append(fetchers.submit(fetch, offset))

        try:
            top_up()  # the next segments travel while the first streams
            yield from self._stream(body, key, 0, None)
            while fetching:
                data = fetching.popleft().result()
                top_up()
                for at in range(0, len(data), READ_CHUNK):
                    yield data[at : at + READ_CHUNK]
        finally:
            for future in fetching:
                future.cancel()
            fetchers.shutdown(wait=True)

    def _stream(self, body: Any, key: str, skip: int, remaining: int | None) -> Iterator[bytes]:
        try:
            with translated(self.bucket, key):
                for received in body.iter_chunks(READ_CHUNK):
                    chunk = received
                    if skip:
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                    if remaining is not None:
                        chunk = chunk[:remaining]
                        remaining -= len(chunk)
                    if chunk:
                        yield chunk
                    if remaining == 0:
                        return
        finally:
            body.close()

    def stat(self, key: str) -> BlobInfo:
        object_key = self._object_key(key)
        self._ensure_bucket()
        with translated(self.bucket, key):
            answer = self._client.head_object(Bucket=self.bucket, Key=object_key)
        return self._info(key, int(answer["ContentLength"]))

    def read_many(self, items: Iterable[tuple[str, int]]) -> Iterator[bytes]:
        """A few GETs in flight at once: each small blob is mostly a round trip."""
        return read_ahead(self.read, items)

    def missing(self, keys: Sequence[str]) -> list[str]:
        """A listing per folder (a thousand names a request) instead of a HEAD per key."""
        return missing_by_listing(keys, self._object_key, self.stat, self._listed)

    def listing(self, folder: str) -> Iterator[StoredBlob]:
        self._ensure_bucket()
        start = len(self.config.object_key(""))
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.config.object_key(folder)
        )
        with translated(self.bucket):
            for page in pages:
                for item in page.get("Contents", []):
                    yield StoredBlob(item["Key"][start:], int(item["Size"]), item["LastModified"].timestamp())

    def _listed(self, folder: str, first: str, last: str) -> set[str]:
        """The object keys directly in ``folder`` from ``first`` to ``last`` (S3 lists in order)."""
        self._ensure_bucket()
        found: set[str] = set()
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder, Delimiter="/", StartAfter=first[:-1]
        )
        with translated(self.bucket):
            for page in pages:
                for item in page.get("Contents", []):
                    if item["Key"] > last:
                        return found
                    found.add(item["Key"])
        return found

    def delete(self, key: str) -> None:
        object_key = self._object_key(key)
        self._ensure_bucket()
        with contextlib.suppress(BlobNotFound), translated(self.bucket, key):
            self._client.delete_object(Bucket=self.bucket, Key=object_key)

    def close(self) -> None:
        self._client.close()


def open_store(config: S3Config) -> S3BlobStore:
    return S3BlobStore(config, make_client(config))
