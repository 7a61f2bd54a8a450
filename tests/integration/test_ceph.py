"""The ``ceph`` blob store against a real one-node Ceph cluster (RADOS Gateway, Swift API).

The port's contract first, then what is Ceph's own: Static Large Objects for blobs above
``segment_size``, no segment left behind by a replaced blob or a failed upload, errors that
say what went wrong (and never show the key), and the Connection arguments for Keystone.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import swiftclient

from assets_registry.adapters.ceph import OPTIONS, assets_registry_adapters, make_ceph_store, parse_config
from assets_registry.adapters.ceph.store import CephBlobStore
from assets_registry.core.errors import BackendUnavailable, BlobNotFound, ConfigurationError
from assets_registry.core.ports import BlobStore
from assets_registry.plugins import AdapterContext, BackendURL
from assets_registry.plugins.manager import Plugins
from assets_registry.plugins.store_helpers import BlobTooLarge, InvalidBlobKey
from assets_registry.testing.blob_contract import BlobStoreContract, MiB, pattern_chunks, read_all
from tests.servers import free_port
from tests.servers.ceph import CephServer

pytestmark = pytest.mark.real_servers

MakeStore = Callable[..., CephBlobStore]


def long_key(length: int) -> str:
    """A valid key of ``length`` characters (its path segments stay under 255 bytes)."""
    parts = []
    while length > 200:
        parts.append("y" * 199)
        length -= 200
    return "/".join([*parts, "y" * length])


def context(url: str, environ: dict[str, str] | None = None) -> AdapterContext:
    return AdapterContext(url=BackendURL(url), data_dir=Path("/nonexistent"), environ=environ or {})


@pytest.fixture
def make_store(ceph_server: CephServer) -> Iterator[MakeStore]:
    """Stores on fresh containers (an RGW container is made in milliseconds once the pools exist)."""
    stores: list[CephBlobStore] = []

    def make(container: str | None = None, prefix: str = "", **options: str) -> CephBlobStore:
        store = make_ceph_store(context(ceph_server.blobs_url(container, prefix, **options)))
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def swift(ceph_server: CephServer) -> Iterator[swiftclient.Connection]:
    """A client of our own, to look at what the store left in the gateway."""
    connection = swiftclient.Connection(
        authurl=ceph_server.auth_url, user=ceph_server.user, key=ceph_server.key, retries=0, timeout=10
    )
    yield connection
    connection.close()


def segments_in(swift: swiftclient.Connection, store: CephBlobStore) -> list[str]:
    _headers, listing = swift.get_container(store.config.segments_container, full_listing=True)
    return [entry["name"] for entry in listing]


class TestCephBlobStore(BlobStoreContract):
    """The contract, with the default options (16 MiB segments: the 96 MiB blob is an SLO)."""

    @pytest.fixture
    def blobs(self, make_store: MakeStore) -> BlobStore:
        return make_store()


def test_the_cluster_started_quickly(ceph_server: CephServer) -> None:
    assert ceph_server.started_in < 60, f"the Ceph cluster took {ceph_server.started_in:.1f} s to start"


def test_a_blob_above_segment_size_is_a_static_large_object(
    make_store: MakeStore, swift: swiftclient.Connection
) -> None:
    store = make_store(segment_size="1M")  # RGW takes segments of any size; 1 MiB is our floor
    data = b"".join(pattern_chunks(3 * MiB + 12345, chunk=300_000))
    info = store.put("models/big.bin", pattern_chunks(3 * MiB + 12345, chunk=300_000))
    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    headers = swift.head_object(store.config.container, "models/big.bin")
    assert headers["x-static-large-object"] == "True"
    assert int(headers["content-length"]) == len(data)
    segments = segments_in(swift, store)
    assert len(segments) == 4 and all(name.startswith("models/big.bin/") for name in segments)
    sizes = [int(swift.head_object(store.config.segments_container, name)["content-length"]) for name in segments]
    assert sizes == [MiB, MiB, MiB, 12345]
    assert read_all(store, "models/big.bin") == data
    for start, length in ((MiB - 10, 20), (0, 2 * MiB + 1), (3 * MiB, None), (len(data) - 1, 5), (len(data), 1)):
        end = None if length is None else start + length
        assert read_all(store, "models/big.bin", start, length) == data[start:end]
    assert store.stat("models/big.bin") == info


def test_a_blob_of_exactly_segment_size_is_one_plain_object(
    make_store: MakeStore, swift: swiftclient.Connection
) -> None:
    store = make_store(segment_size="1M")
    store.put("exact", pattern_chunks(MiB, chunk=4096))
    assert "x-static-large-object" not in swift.head_object(store.config.container, "exact")
    assert segments_in(swift, store) == []


def test_replacing_a_large_blob_leaves_no_orphan_segments(make_store: MakeStore, swift: swiftclient.Connection) -> None:
    store = make_store(segment_size="1M")
    store.put("k", pattern_chunks(2 * MiB + 1, seed=1))
    first = segments_in(swift, store)
    assert len(first) == 3
    store.put("k", pattern_chunks(3 * MiB + 1, seed=2))
    second = segments_in(swift, store)
    assert len(second) == 4 and not set(first) & set(second)
    assert read_all(store, "k") == b"".join(pattern_chunks(3 * MiB + 1, seed=2))
    store.put("k", [b"small now"])
    assert segments_in(swift, store) == []
    assert read_all(store, "k") == b"small now"
    store.put("k", pattern_chunks(2 * MiB + 1, seed=3))
    store.delete("k")
    assert segments_in(swift, store) == []
    with pytest.raises(BlobNotFound):
        store.stat("k")


def test_an_aborted_large_upload_leaves_no_segments_and_the_old_blob_whole(
    make_store: MakeStore, swift: swiftclient.Connection
) -> None:
    store = make_store(segment_size="1M")
    store.put("k", pattern_chunks(2 * MiB, seed=1))
    before = segments_in(swift, store)
    failure = OSError("the client went away")

    def broken() -> Iterator[bytes]:
        yield from pattern_chunks(3 * MiB + 5)
        raise failure

    with pytest.raises(OSError, match="went away") as raised:
        store.put("k", broken())
    assert raised.value is failure  # unchanged, not wrapped by the HTTP client
    assert segments_in(swift, store) == before
    assert read_all(store, "k") == b"".join(pattern_chunks(2 * MiB, seed=1))
    with pytest.raises(OSError, match="went away"):
        store.put("never", broken())
    with pytest.raises(BlobNotFound):
        store.stat("never")
    assert segments_in(swift, store) == before


def test_a_blob_beyond_max_segments_is_refused_and_leaves_nothing(
    make_store: MakeStore, swift: swiftclient.Connection
) -> None:
    store = make_store(segment_size="1M", max_segments="2")
    store.put("fits", pattern_chunks(2 * MiB))
    with pytest.raises(BlobTooLarge, match="raise segment_size"):
        store.put("too-big", pattern_chunks(2 * MiB + 1))
    assert len(segments_in(swift, store)) == 2  # those of "fits" only
    with pytest.raises(BlobNotFound):
        store.stat("too-big")


def test_large_blobs_take_keys_with_any_characters_and_long_keys(make_store: MakeStore) -> None:
    store = make_store(segment_size="1M")
    data = b"".join(pattern_chunks(MiB + 7))
    for key in ("ünï cödé/ß?#%20+.txt", long_key(1000)):
        store.put(key, pattern_chunks(MiB + 7))
        assert read_all(store, key) == data
        store.delete(key)


def test_keys_are_checked_like_the_filesystem_store_and_for_rgw_length(make_store: MakeStore) -> None:
    store = make_store(prefix="tenant")
    for key in ("../escape", "/absolute", "a//b", "a/./b", "ctl\x00", "back\\slash", "", "x" * 256):
        with pytest.raises(InvalidBlobKey):
            store.put(key, [b"x"])
    with pytest.raises(InvalidBlobKey, match="1024 bytes"):
        store.put(long_key(1018), [b"x"])
    store.put(long_key(1017), [b"fits with the prefix: 1024 bytes"])


def test_a_prefix_keeps_blobs_apart_and_urls_name_it(make_store: MakeStore, swift: swiftclient.Connection) -> None:
    store = make_store(prefix="tenant/a")
    other = make_store(store.config.container, prefix="tenant/b")
    info = store.put("f.bin", [b"data"])
    assert info.url == f"ceph://{store.config.container}/tenant/a/f.bin"
    assert swift.get_object(store.config.container, "tenant/a/f.bin")[1] == b"data"
    assert store.key_for_url(info.url) == "f.bin"
    assert other.key_for_url(info.url) is None
    with pytest.raises(BlobNotFound):
        other.stat("f.bin")


def test_stat_tells_the_sha256_recorded_at_upload(make_store: MakeStore) -> None:
    store = make_store(segment_size="1M")
    small = store.put("small", [b"abc"])
    large = store.put("large", pattern_chunks(MiB + 1))
    assert store.stat("small").sha256 == small.sha256 == hashlib.sha256(b"abc").hexdigest()
    assert store.stat("large").sha256 == large.sha256 is not None
    assert store.put("staged", [b"abc"], transient=True).sha256 is None


def test_the_key_may_come_from_the_environment(ceph_server: CephServer) -> None:
    url = ceph_server.blobs_url().replace(f"&key={ceph_server.key}", "")
    assert ceph_server.key not in url
    store = make_ceph_store(context(url, {"ST_KEY": ceph_server.key}))
    assert store.put("k", [b"v"]).size == 1
    store.close()


def test_a_wrong_key_is_refused_without_showing_it(ceph_server: CephServer) -> None:
    wrong = "not-the-key-5f3a9c"
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as raised:
        make_ceph_store(context(ceph_server.blobs_url().replace(ceph_server.key, wrong)))
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert "refused the credentials" in message and ceph_server.user in message
    assert wrong not in message and wrong not in repr(raised.value.__cause__)


def test_a_closed_port_answers_unavailable_within_seconds(ceph_server: CephServer) -> None:
    url = f"ceph://c?auth_url=http%3A%2F%2F127.0.0.1%3A{free_port()}%2Fauth%2F1.0&user=ci%3Aswift"
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="cannot reach the gateway"):
        make_ceph_store(context(url, {"ST_KEY": "k"}))
    assert time.monotonic() - started < 5
    store = make_ceph_store(context(url + "&create_container=false&retries=0", {"ST_KEY": "k"}))
    started = time.monotonic()
    for operation in (store.check, lambda: store.stat("k"), lambda: store.put("k", [b"x"]), lambda: store.delete("k")):
        with pytest.raises(BackendUnavailable, match="Connection refused"):
            operation()
        with pytest.raises(BackendUnavailable):
            read_all(store, "k")
    assert time.monotonic() - started < 2
    store.close()


def test_check_names_a_missing_container(ceph_server: CephServer) -> None:
    store = make_ceph_store(context(ceph_server.blobs_url(create_container="false")))
    with pytest.raises(BackendUnavailable, match="does not exist"):
        store.check()
    with pytest.raises(BackendUnavailable, match="does not exist"):
        store.put("k", [b"x"])
    store.close()


# -- without a server: the URL, the client's arguments, the plugin ------------------------


def test_keystone_v3_options_become_swiftclient_os_options() -> None:
    url = (
        "ceph://assets/prod?auth_url=https%3A%2F%2Fkeystone%3A5000%2Fv3&user=registry&auth_version=3"
        "&project_name=models&project_domain_name=Default&user_domain_name=ldap&region_name=RegionTwo"
        "&interface=internal&timeout=7"
    )
    config = parse_config(context(url, {"OS_PASSWORD": "from-env", "ST_KEY": "not-this-one"}))
    kwargs = config.connection_kwargs()
    assert kwargs["os_options"] == {
        "project_name": "models",
        "project_domain_name": "Default",
        "user_domain_name": "ldap",
        "region_name": "RegionTwo",
        "endpoint_type": "internal",
    }
    assert (kwargs["authurl"], kwargs["user"], kwargs["key"], kwargs["auth_version"]) == (
        "https://keystone:5000/v3",
        "registry",
        "from-env",
        "3",
    )
    assert kwargs["timeout"] == 7.0  # keystoneclient takes one number, not (connect, read)
    assert (config.container, config.prefix) == ("assets", "prod")
    connection = swiftclient.Connection(**kwargs)  # the client takes them as they are
    assert connection.os_options["endpoint_type"] == "internal"
    assert repr(config).count("from-env") == 0


def test_v1_takes_its_key_from_st_key_and_bounds_its_waits() -> None:
    config = parse_config(context("ceph://c?auth_url=http%3A%2F%2Fgw%2Fauth%2F1.0&user=a%3Ab", {"ST_KEY": "s3cr3t"}))
    kwargs = config.connection_kwargs()
    assert (kwargs["key"], kwargs["auth_version"], kwargs["os_options"]) == ("s3cr3t", "1", {})
    assert kwargs["timeout"] == (3.0, 10.0) and kwargs["retries"] == 2 and kwargs["max_backoff"] <= 2
    assert config.segment_size == 16 * MiB and config.create_container


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ceph://?auth_url=http%3A%2F%2Fgw&user=u&key=k", "names its container"),
        ("ceph://c?user=u&key=k", "auth_url and user"),
        ("ceph://c?auth_url=http%3A%2F%2Fgw&user=u", r"\$ST_KEY"),
        ("ceph://c?auth_url=http%3A%2F%2Fgw&user=u&key=k&auth_version=2", "auth_version"),
        ("ceph://c?auth_url=http%3A%2F%2Fgw&user=u&key=k&segment_size=1000", "between 1 MiB and 5 GiB"),
        ("ceph://c?auth_url=http%3A%2F%2Fgw&user=u&key=k&segment_size=lots", "size in bytes"),
        ("ceph://c?auth_url=http%3A%2F%2Fgw&user=u&key=k&create_container=maybe", "true or false"),
        ("ceph://c?auth_url=http%3A%2F%2Fgw&user=u&key=k&bucket=b", "Unknown option"),
        ("ceph://c/a/../b?auth_url=http%3A%2F%2Fgw&user=u&key=k", "prefix"),
    ],
)
def test_unusable_urls_are_refused_with_a_reason(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        parse_config(context(url))


def test_keystone_needs_its_client_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keystoneclient", None)
    url = "ceph://c?auth_url=http%3A%2F%2Fks%2Fv3&user=u&key=k&auth_version=3&project_name=p"
    with pytest.raises(ConfigurationError, match="python-keystoneclient"):
        make_ceph_store(context(url))


def test_the_plugin_is_found_and_documents_every_option() -> None:
    spec = Plugins.load().adapter_spec("blobs", "ceph")
    assert spec.factory is make_ceph_store and spec.options == OPTIONS
    assert all(description for description in spec.options.values())


def test_the_plugin_loads_without_swiftclient_and_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = ("swiftclient", "assets_registry.adapters.ceph.store", "assets_registry.adapters.ceph.connections")
    for name in [n for n in sys.modules if n.startswith(loaded)]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "swiftclient", None)
    (spec,) = assets_registry_adapters()
    with pytest.raises(ConfigurationError, match=r"pip install 'assets-registry\[ceph\]'"):
        spec.factory(context("ceph://c?auth_url=http%3A%2F%2Fgw&user=u&key=k"))
