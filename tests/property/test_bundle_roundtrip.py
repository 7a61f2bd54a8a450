"""Round trip: downloading what was uploaded gives the same members, the same bytes, and an
``asset.json`` equal to the stored metadata, for generated bundles."""

from __future__ import annotations

import io
import json
import random
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets_registry.adapters.filesystem import FilesystemBlobStore
from assets_registry.adapters.sqlite import SqliteJobTracker, SqliteMetadataStore
from assets_registry.core.bundles import Bundles
from assets_registry.core.bundles.frames import MIN_MEMBERS
from assets_registry.core.registry import Registry
from assets_registry.testing import bundle_asset, bundle_zip

_SEGMENT_ALPHABET = st.characters(
    blacklist_categories=("Cc", "Cs"), blacklist_characters="/\\", min_codepoint=32, max_codepoint=0x2FFF
)
segment = (
    st.text(_SEGMENT_ALPHABET, min_size=1, max_size=12)
    .map(str.strip)
    .filter(lambda s: s not in ("", ".", "..", "__MACOSX", ".DS_Store", "asset.json"))
)
path = st.lists(segment, min_size=1, max_size=3).map("/".join)
small = st.binary(max_size=2048)
large = st.builds(
    lambda size, seed: random.Random(seed).randbytes(size),  # incompressible: the zip-bomb ratio never fires
    st.integers(min_value=1 << 20, max_value=3 << 20),
    st.integers(min_value=0, max_value=2**32),
)
content = st.one_of(small, small, small, st.just(b""), large)


def _no_file_under_a_file(files: dict[str, bytes]) -> bool:
    names = set(files)
    return not any("/".join(n.split("/")[:d]) in names for n in names for d in range(1, n.count("/") + 1))


bundles_strategy = st.dictionaries(path, content, min_size=0, max_size=25).filter(_no_file_under_a_file)
methods = st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])


def make_bundle(files: dict[str, bytes], method: int, wrap: bool) -> bytes:
    prefix = "wrapper/" if wrap else ""
    return bundle_zip(bundle_asset("round-trip", profile_id="p"), files, folder=prefix, compression=method)


def _with_many(files: dict[str, bytes], many: int) -> dict[str, bytes]:
    """``many`` more small files, in their own folder, so the archive is one that keeps frames."""
    return files | {f"many/f{n:03}.txt": str(n).encode() * (n % 7) for n in range(many)}


@pytest.mark.slow  # ~20 s: 40 archives of up to 25 members, each uploaded and downloaded
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(files=bundles_strategy, method=methods, wrap=st.booleans(), many=st.sampled_from([0, 0, MIN_MEMBERS]))
def test_download_gives_back_what_was_uploaded(files: dict[str, bytes], method: int, wrap: bool, many: int) -> None:
    """Twice: the second download of an asset of many files is spliced from the first's frames."""
    files = _with_many(files, many) if many and "many" not in {n.split("/")[0] for n in files} else files
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = SqliteMetadataStore(root / "registry.db")
        jobs = SqliteJobTracker(root / "jobs.db")
        bundles = Bundles(Registry(store), FilesystemBlobStore(root / "blobs"), jobs)
        try:
            data = make_bundle(files, method, wrap)
            job = bundles.stage([data[i : i + 65536] for i in range(0, len(data), 65536)])
            bundles.run_next("w")
            assert bundles.status(job.upload_id).status == "success"

            download = bundles.export("round-trip")
            archive_bytes = b"".join(download.chunks())
            assert len(archive_bytes) == download.size
            again = bundles.export("round-trip")
            assert again.size == download.size
            assert b"".join(again.chunks()) == archive_bytes
            archive = zipfile.ZipFile(io.BytesIO(archive_bytes))
            assert archive.testzip() is None
            names = archive.namelist()
            assert names[0] == "asset.json"
            assert sorted(names[1:]) == sorted(files)
            assert {name: archive.read(name) for name in names[1:]} == files
            assert json.loads(archive.read("asset.json")) == store.get("round-trip").document
        finally:
            store.close()
            jobs.close()
