"""The ``s3`` blob store against a real S3 server (SeaweedFS): the contract, and what S3 adds.

What S3 adds: credentials that can be refused, a server that can be down or silent, a
bucket that can be missing, multipart uploads that must never show half a blob, and keys
that travel percent-encoded inside ``s3://`` URLs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from assets_registry.adapters.s3 import make_s3_store
from assets_registry.adapters.s3.config import DEFAULT_PART_SIZE, DEFAULT_PARTS_IN_FLIGHT
from assets_registry.adapters.s3.uploads import StreamingUpload
from assets_registry.core.errors import BackendUnavailable, BlobNotFound, ConfigurationError, InvalidInput
from assets_registry.core.ports import BlobStore
from assets_registry.plugins.manager import Plugins
from assets_registry.plugins.types import AdapterContext, BackendURL
from assets_registry.testing.blob_contract import BlobStoreContract, MiB, pattern_chunks, read_all
from tests.servers import free_port
from tests.servers.seaweedfs import S3Server, empty_and_delete_bucket, new_bucket_name

pytestmark = pytest.mark.real_servers

PART = 5 * MiB  # S3's smallest part: multipart tests stay small


def open_store(url: str, environ: dict[str, str] | None = None) -> BlobStore:
    store: BlobStore = make_s3_store(AdapterContext(BackendURL(url), Path("/nonexistent"), environ or {}))
    return store


@pytest.fixture
def client(s3_client: Any) -> Any:
    return s3_client


@pytest.fixture
def store(s3_server: S3Server, s3_bucket: str) -> Iterator[BlobStore]:
    """A store on a fresh bucket, with the smallest part size so that multipart is cheap to reach."""
    blobs = open_store(s3_server.blobs_url(s3_bucket, part_size=str(PART)))
    yield blobs
    blobs.close()


class TestS3BlobStore(BlobStoreContract):
    memory_budget = (DEFAULT_PARTS_IN_FLIGHT + 2) * DEFAULT_PART_SIZE  # parts in flight, one filling, slack

    @pytest.fixture
    def blobs(self, s3_server: S3Server, s3_bucket: str) -> Iterator[BlobStore]:
        store = open_store(s3_server.blobs_url(s3_bucket))
        yield store
        store.close()


class TestS3BlobStoreUnderAPrefix(BlobStoreContract):
    """Several registries (or environments) may share one bucket, each under its own prefix."""

    test_large_blobs_stream_with_bounded_memory = None  # type: ignore[assignment]  # proven once, above

    @pytest.fixture
    def blobs(self, s3_server: S3Server, s3_bucket: str) -> Iterator[BlobStore]:
        store = open_store(s3_server.blobs_url(s3_bucket, prefix="env/prod blobs"))
        yield store
        store.close()


def test_the_plugin_is_found_through_its_entry_point(s3_server: S3Server, s3_bucket: str) -> None:
    (entry,) = [e for e in importlib.metadata.entry_points(group="assets_registry") if e.name == "s3"]
    plugins = Plugins.load(entry_points=False, extra=[("s3", entry.load())])
    spec = plugins.adapter_spec("blobs", "s3")
    assert {"endpoint_url", "region", "addressing_style", "create_bucket", "part_size"} <= set(spec.options)
    context = AdapterContext(BackendURL(s3_server.blobs_url(s3_bucket)), Path("/nonexistent"))
    store = plugins.make_adapter("blobs", context)
    assert isinstance(store, BlobStore)
    store.check()
    store.close()


def test_the_plugin_imports_and_explains_itself_without_boto3() -> None:
    script = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("boto3", "botocore", "s3transfer"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
from pathlib import Path
from assets_registry.adapters.s3 import assets_registry_adapters, make_s3_store
from assets_registry.core.errors import ConfigurationError
from assets_registry.plugins.types import AdapterContext, BackendURL
(spec,) = assets_registry_adapters()
try:
    make_s3_store(AdapterContext(BackendURL("s3://bucket"), Path(".")))
except ConfigurationError as exc:
    print(spec.scheme, exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("s3 ") and "pip install 'assets-registry[s3]'" in done.stdout


class TestRefusedCredentials:
    WRONG_SECRET = "wrong-secret-0123456789-do-not-print"

    def test_a_wrong_secret_is_refused_cleanly_and_never_shown(self, s3_server: S3Server, s3_bucket: str) -> None:
        store = open_store(s3_server.blobs_url(s3_bucket, secret_access_key=self.WRONG_SECRET))
        for attempt in (store.check, lambda: store.put("k", [b"data"]), lambda: store.stat("k")):
            with pytest.raises(BackendUnavailable) as caught:
                attempt()
            message = str(caught.value)
            assert "S3" in message and "refused the credentials" in message and "SignatureDoesNotMatch" in message
            assert self.WRONG_SECRET not in message and self.WRONG_SECRET not in repr(caught.value.__cause__)
        assert self.WRONG_SECRET not in repr(store) + repr(getattr(store, "config", ""))
        store.close()

    def test_an_unknown_access_key_is_named_as_such(self, s3_server: S3Server, s3_bucket: str) -> None:
        store = open_store(s3_server.blobs_url(s3_bucket, access_key_id="nobody", secret_access_key="x"))
        with pytest.raises(BackendUnavailable, match=r"refused the credentials.*InvalidAccessKeyId"):
            store.check()

    def test_keys_from_the_registrys_environment_are_used(self, s3_server: S3Server, s3_bucket: str) -> None:
        url = f"s3://{s3_bucket}?endpoint_url={s3_server.endpoint_url}"
        good = {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": s3_server.secret_key}
        open_store(url, good).check()
        with pytest.raises(BackendUnavailable, match="SignatureDoesNotMatch"):
            open_store(url, {**good, "AWS_SECRET_ACCESS_KEY": "wrong"}).check()

    def test_keys_before_the_bucket_are_used_and_hidden(self, s3_server: S3Server, s3_bucket: str) -> None:
        where = f"{s3_bucket}?endpoint_url={s3_server.endpoint_url}"
        open_store(f"s3://{s3_server.access_key}:{s3_server.secret_key}@{where}").check()
        url = f"s3://{s3_server.access_key}:{self.WRONG_SECRET}@{where}"
        assert self.WRONG_SECRET not in str(BackendURL(url))
        with pytest.raises(BackendUnavailable, match="SignatureDoesNotMatch") as caught:
            open_store(url).check()
        assert self.WRONG_SECRET not in str(caught.value)


class TestUnreachableServer:
    def test_a_closed_port_is_unavailable_within_seconds(self) -> None:
        url = f"s3://bucket?endpoint_url=http://127.0.0.1:{free_port()}&access_key_id=a&secret_access_key=b"
        store = open_store(url)
        for attempt in (store.check, lambda: store.put("k", [b"x"]), lambda: read_all(store, "k")):
            began = time.monotonic()
            with pytest.raises(BackendUnavailable, match=r"blob store \(S3\).*EndpointConnectionError"):
                attempt()
            assert time.monotonic() - began < 10

    def test_a_server_that_never_answers_times_out(self) -> None:
        with socket.socket() as silent:  # accepts connections (the kernel does), never answers
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            port = silent.getsockname()[1]
            url = (
                f"s3://bucket?endpoint_url=http://127.0.0.1:{port}&access_key_id=a&secret_access_key=b"
                "&read_timeout=1&max_attempts=1"
            )
            began = time.monotonic()
            with pytest.raises(BackendUnavailable, match="ReadTimeoutError"):
                open_store(url).check()
            assert time.monotonic() - began < 10


class TestBuckets:
    def test_a_missing_bucket_is_named_when_not_to_be_created(self, s3_server: S3Server) -> None:
        name = new_bucket_name()
        store = open_store(s3_server.blobs_url(name, create_bucket="false"))
        for attempt in (store.check, lambda: store.put("k", [b"x"]), lambda: store.stat("k")):
            with pytest.raises(BackendUnavailable, match=f"the bucket '{name}' does not exist.*create_bucket=true"):
                attempt()

    def test_create_bucket_creates_it_once_however_many_stores_ask(self, s3_server: S3Server, client: Any) -> None:
        name = new_bucket_name()
        try:
            first = open_store(s3_server.blobs_url(name, create_bucket="true"))
            second = open_store(s3_server.blobs_url(name, create_bucket="true"))
            first.put("k", [b"x"])
            second.check()
            assert read_all(second, "k") == b"x"
            assert name in [b["Name"] for b in client.list_buckets()["Buckets"]]
        finally:
            empty_and_delete_bucket(client, name)


class TestMultipartUploads:
    def test_a_blob_larger_than_a_part_goes_in_parts(self, store: BlobStore, s3_bucket: str, client: Any) -> None:
        size = 2 * PART + 12345
        info = store.put("big", pattern_chunks(size, chunk=300_000))
        assert info.size == size
        assert info.sha256 == hashlib.sha256(b"".join(pattern_chunks(size, chunk=300_000))).hexdigest()
        assert client.head_object(Bucket=s3_bucket, Key="big")["ETag"].strip('"').endswith("-3")
        assert hashlib.sha256(read_all(store, "big")).hexdigest() == info.sha256

    def test_a_blob_of_exactly_one_part_goes_in_one_put(self, store: BlobStore, s3_bucket: str, client: Any) -> None:
        store.put("one", pattern_chunks(PART))
        assert "-" not in client.head_object(Bucket=s3_bucket, Key="one")["ETag"]
        assert store.stat("one").size == PART

    def test_a_failed_stream_aborts_the_upload(self, store: BlobStore, s3_bucket: str, client: Any) -> None:
        def broken() -> Iterator[bytes]:
            yield from pattern_chunks(2 * PART + 1)  # two parts sent, the third begun
            raise OSError("the client went away")

        with pytest.raises(OSError, match="went away"):
            store.put("half", broken())
        assert client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0
        assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []

    def test_a_transient_blob_skips_the_digest(self, store: BlobStore) -> None:
        info = store.put("staging/upload.zip", pattern_chunks(PART + 1), transient=True)
        assert (info.size, info.sha256) == (PART + 1, None)


class TestRangedReads:
    def test_ranges_across_part_boundaries_and_past_the_end(self, store: BlobStore) -> None:
        data = b"".join(pattern_chunks(PART + 1000, chunk=777_777))
        store.put("r", pattern_chunks(PART + 1000, chunk=777_777))
        assert read_all(store, "r", PART - 3, 10) == data[PART - 3 : PART + 7]
        assert read_all(store, "r", PART + 990) == data[PART + 990 :]
        assert read_all(store, "r", PART + 990, 100) == data[PART + 990 :]
        assert read_all(store, "r", PART + 1000) == b""
        assert read_all(store, "r", 10**9, 5) == b""
        assert read_all(store, "r", 7, 0) == b""

    def test_an_empty_blob_reads_empty_from_anywhere(self, store: BlobStore) -> None:
        store.put("e", [])
        assert read_all(store, "e") == read_all(store, "e", 0, 5) == read_all(store, "e", 3) == b""

    def test_bad_ranges_and_missing_blobs(self, store: BlobStore) -> None:
        with pytest.raises(InvalidInput):
            store.read("r", -1)
        with pytest.raises(BlobNotFound):
            read_all(store, "missing", 0, 0)
        with pytest.raises(BlobNotFound):
            read_all(store, "missing", 5, 10)


class TestKeysAndUrls:
    KEYS = ("dir with spaces/ünï cödé.bin", "a+b=c&d;e,f@g$h!", "emoji 🎉/x?y#z%20.txt", "a/b/c")

    def test_odd_keys_round_trip_through_urls(self, store: BlobStore, s3_bucket: str, client: Any) -> None:
        for key in self.KEYS:
            info = store.put(key, [key.encode()])
            assert info.url.startswith(f"s3://{s3_bucket}/") and " " not in info.url and "#" not in info.url
            assert store.key_for_url(info.url) == key
            assert read_all(store, key) == key.encode()
        stored = {o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
        assert stored == set(self.KEYS)  # the object keys are the blob keys themselves

    def test_foreign_urls_are_not_claimed(self, s3_server: S3Server, s3_bucket: str) -> None:
        store = open_store(s3_server.blobs_url(s3_bucket, prefix="mine"))
        assert store.key_for_url(f"s3://{s3_bucket}/mine/a/b") == "a/b"
        for url in (
            f"s3://{s3_bucket}/other/a",
            f"s3://{s3_bucket}/a",
            f"s3://{s3_bucket}x/mine/a",
            "s3://elsewhere/mine/a",
            f"https://{s3_bucket}.s3.amazonaws.com/mine/a",
            f"s3://{s3_bucket}/mine/..%2Fescape",
        ):
            assert store.key_for_url(url) is None, url

    @pytest.mark.parametrize(
        "key", ["", "/abs", "a//b", "../up", "a/./b", ".partial/x", "back\\slash", "nul\x00", "é" * 600]
    )
    def test_hostile_keys_are_refused_like_the_filesystem_store_does(self, s3_server: S3Server, key: str) -> None:
        store = open_store(s3_server.blobs_url("never-created"))  # refused before any request is made
        for attempt in (lambda: store.put(key, [b"x"]), lambda: store.stat(key), lambda: store.read(key)):
            with pytest.raises(InvalidInput, match="The blob key"):
                attempt()


class TestConfiguration:
    @pytest.mark.parametrize(
        ("url", "complaint"),
        [
            ("s3://", "needs a bucket name"),
            ("s3://bucket?endpont_url=http://x", "unknown option"),
            ("s3://bucket?part_size=1024", "part_size must be between"),
            ("s3://bucket?part_size=lots", "must be a number"),
            ("s3://bucket?addressing_style=sideways", "addressing_style must be one of"),
            ("s3://bucket?create_bucket=maybe", "must be true or false"),
            ("s3://bucket?access_key_id=only-the-id", "go together"),
            ("s3://bucket/a/../b", "must not have"),
        ],
    )
    def test_a_bad_url_is_refused_with_a_sentence(self, url: str, complaint: str) -> None:
        with pytest.raises(ConfigurationError, match=complaint):
            open_store(url)

    def test_the_secret_is_hidden_when_the_url_is_shown(self) -> None:
        url = BackendURL("s3://bucket?access_key_id=id&secret_access_key=hush-1&session_token=hush-2")
        assert "hush" not in str(url)


class _Watched:
    """The real client, its ``upload_part`` calls counted as they overlap (each a moment longer)."""

    def __init__(self, client: Any, fail_part: int | None = None) -> None:
        self._client = client
        self.meta = client.meta
        self.fail_part = fail_part
        self.at_once = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def upload_part(self, **kwargs: Any) -> Any:
        with self._lock:
            self.at_once += 1
            self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            time.sleep(0.05)
            if kwargs["PartNumber"] == self.fail_part:
                raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")  # the network dropped it
            return self._client.upload_part(**kwargs)
        finally:
            with self._lock:
                self.at_once -= 1


class TestPartsInFlight:
    def test_parts_travel_at_once_within_their_budget(self, s3_bucket: str, client: Any) -> None:
        watched = _Watched(client)
        size = 7 * PART + 99
        StreamingUpload(watched, s3_bucket, "parallel", "parallel", PART, in_flight=3).run(pattern_chunks(size), None)
        assert watched.most_at_once == 3
        got = client.get_object(Bucket=s3_bucket, Key="parallel")["Body"].read()
        assert got == b"".join(pattern_chunks(size)), "the parts were put together in their order"
        assert client.head_object(Bucket=s3_bucket, Key="parallel")["ETag"].strip('"').endswith("-8")

    def test_a_part_that_fails_in_flight_aborts_the_upload(self, s3_bucket: str, client: Any) -> None:
        watched = _Watched(client, fail_part=3)
        upload = StreamingUpload(watched, s3_bucket, "failing", "failing", PART, in_flight=3)
        with pytest.raises(BackendUnavailable):
            upload.run(pattern_chunks(6 * PART), None)
        assert client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0
        assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []

    @pytest.mark.parametrize("in_flight", ["1", "3"])
    def test_segments_read_back_whole_and_in_ranges(self, s3_server: S3Server, s3_bucket: str, in_flight: str) -> None:
        store = open_store(s3_server.blobs_url(s3_bucket, part_size=str(PART), parts_in_flight=in_flight))
        size = 4 * PART + 321
        data = b"".join(pattern_chunks(size, chunk=999_999))
        store.put("seg", pattern_chunks(size, chunk=999_999))
        assert read_all(store, "seg") == data
        assert read_all(store, "seg", PART - 5, 2 * PART + 10) == data[PART - 5 : 3 * PART + 5]
        assert read_all(store, "seg", 3 * PART + 7) == data[3 * PART + 7 :]
        store.close()

    def test_reading_part_of_a_blob_and_stopping_leaves_no_fetch_running(self, store: BlobStore) -> None:
        store.put("stop", pattern_chunks(5 * PART))
        stream = iter(store.read("stop"))
        first = next(stream)
        assert first
        before = {t.name for t in threading.enumerate()}
        stream.close()  # type: ignore[attr-defined]
        assert not [t for t in threading.enumerate() if t.name.startswith("s3-segment") and t.is_alive()], before
