"""ZIP64: a bundle with a member over 4 GiB goes in and comes back out whole.

The input archive is written as a sparse file (runs of zeros become holes), so the test
costs one real 4 GiB blob write (the ingest's) rather than three.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from assets_registry.adapters.filesystem import FilesystemBlobStore
from assets_registry.adapters.sqlite import SqliteJobTracker, SqliteMetadataStore
from assets_registry.core.bundles import Bundles
from assets_registry.core.registry import Registry

MiB = 1 << 20
BIG = (4 << 30) + 3 * MiB  # past the 32-bit size field


class SparseWriter(io.RawIOBase):
    """A file that seeks over all-zero writes, leaving holes: gigabytes of zeros cost no disk."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "w+b")  # noqa: SIM115 - closed in close()
        self.end = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        block = bytes(data)
        if block and block.count(0) == len(block):
            self.file.seek(len(block), io.SEEK_CUR)
        else:
            self.file.write(block)
        self.end = max(self.end, self.file.tell())
        return len(block)

    def read(self, size: int = -1) -> bytes:
        return self.file.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def flush(self) -> None:
        if not self.file.closed:
            self.file.flush()

    def close(self) -> None:
        if not self.closed:
            self.file.truncate(max(self.end, self.file.tell()))
            self.file.close()
        super().close()


def zeros(total: int) -> Any:
    chunk = bytes(MiB)
    sent = 0
    while sent < total:
        yield chunk[: min(MiB, total - sent)]
        sent += MiB


@pytest.mark.slow
def test_a_member_over_4_gib_goes_in_and_comes_back(tmp_path: Path) -> None:
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    jobs = SqliteJobTracker(tmp_path / "jobs.db")
    bundles = Bundles(Registry(SqliteMetadataStore(tmp_path / "registry.db")), blobs, jobs)
    asset = {
        "asset_id": "huge",
        "asset_uri": "models://example.com/huge",
        "asset_version": "v1",
        "asset_profile_id": "p",
        "asset_file_ids": ["weights.bin"],
    }
    staged = tmp_path / "blobs" / "staging" / "huge.zip"
    staged.parent.mkdir(parents=True)
    sparse = SparseWriter(staged)
    with zipfile.ZipFile(sparse, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("asset.json", json.dumps(asset))
        with archive.open("weights.bin", "w", force_zip64=True) as member:
            for chunk in zeros(BIG):
                member.write(chunk)
    sparse.close()
    assert staged.stat().st_size > BIG
    assert staged.stat().st_blocks * 512 < 64 * MiB, "the input archive should be sparse"

    jobs.submit("u-huge", "staging/huge.zip")
    bundles.run_next("w")
    assert bundles.status("u-huge").status == "success"
    stored = bundles.registry.get("huge").document
    [entry] = stored["files"]
    assert entry["asset_file_metadata"]["size"] == BIG
    key = blobs.key_for_url(entry["asset_file_url"])
    assert key is not None and blobs.stat(key).size == BIG
    assert not staged.exists()

    download = bundles.export("huge")
    out_path = tmp_path / "download.zip"
    out = SparseWriter(out_path)
    written = 0
    for chunk in download.chunks():
        written += out.write(chunk)
    out.close()
    assert written == download.size == out_path.stat().st_size
    with zipfile.ZipFile(out_path) as archive:
        infos = {i.filename: i for i in archive.infolist()}
        assert infos["weights.bin"].file_size == BIG
        assert json.loads(archive.read("asset.json")) == stored
        assert archive.testzip() is None  # every CRC-32, the 4 GiB member included
