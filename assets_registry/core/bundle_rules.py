"""What a ZIP bundle may contain, checked from its central directory before any byte is unpacked.

The rules (the README's "ZIP bundles" section says the same):

- ``asset.json`` lies at the root, or inside the archive's only top-level folder (as
  Finder's "Compress" and ``zip -r folder`` make); that folder is then left out of every path.
- Every other regular member is a file of the asset; its path is its ``asset_file_id``.
- Folder entries, and the ``__MACOSX/`` and ``.DS_Store`` entries macOS adds, are skipped.
- Refused, naming the member: absolute paths, ``..``, backslashes, NUL and other control
  characters, symbolic links and other non-regular files, duplicate names, a file inside
  a path that is itself a file (``a`` and ``a/b``: no filesystem can hold both), encryption,
  compression methods other than stored, deflate, bzip2 and LZMA.
- Bounded: members, total unpacked size, expansion ratio (zip bombs), ``asset.json`` size.
  Declared sizes bound what is written: ``zipfile`` never unpacks past a member's declared
  size, and a member whose data disagrees with its CRC-32 fails.
"""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass

from assets_registry.core.identifiers import file_id_problem, has_control

ASSET_JSON = "asset.json"
SUPPORTED_COMPRESSION = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "LZMA",
}
_MACOS_JUNK_FOLDER = "__MACOSX/"
_MACOS_JUNK_FILE = ".DS_Store"
GiB = 1 << 30


@dataclass(frozen=True)
class BundleLimits:
    """Bounds on what one bundle may hold; every one configurable, each safe by default."""

    max_upload_bytes: int = 64 * GiB
    max_unpacked_bytes: int = 256 * GiB
    max_members: int = 100_000
    max_ratio: float = 200.0
    ratio_applies_above: int = 1 << 20
    max_asset_json_bytes: int = 4 << 20


class BundleRejected(Exception):
    """The bundle breaks a rule; ``reason`` becomes the job's ``failed: <reason>``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class BundleMember:
    """A file of the asset inside the archive."""

    info: zipfile.ZipInfo
    path: str

    @property
    def size(self) -> int:
        return self.info.file_size


@dataclass(frozen=True)
class BundlePlan:
    asset_json: zipfile.ZipInfo
    members: tuple[BundleMember, ...]

    @property
    def unpacked_bytes(self) -> int:
        return sum(m.size for m in self.members)


def plan_bundle(archive: zipfile.ZipFile, archive_bytes: int, limits: BundleLimits) -> BundlePlan:
    """Check every entry of the central directory; raise ``BundleRejected`` naming the first offender."""
    infos = archive.infolist()
    if len(infos) > limits.max_members + 1:
        raise BundleRejected(f"the archive has {len(infos)} members; at most {limits.max_members} files are accepted")
    seen: set[str] = set()
    entries: list[zipfile.ZipInfo] = []
    total = 0
    for info in infos:
        name = info.orig_filename
        check_member_name(name)
        if name in seen:
            raise BundleRejected(f"member {name} appears twice in the archive")
        seen.add(name)
        if is_junk(name) or info.is_dir():
            continue
        _check_entry(info, limits)
        total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise BundleRejected(
                f"the archive unpacks to more than {limits.max_unpacked_bytes} bytes, the most accepted"
            )
        entries.append(info)
    if total > limits.ratio_applies_above and total / max(archive_bytes, 1) > limits.max_ratio:
        raise BundleRejected(
            f"the archive expands {total / max(archive_bytes, 1):.0f} times ({archive_bytes} to {total} bytes); "
            f"at most {limits.max_ratio:.0f} times is accepted"
        )
    prefix = _wrapper_folder(entries)
    asset_json = next((i for i in entries if i.orig_filename == prefix + ASSET_JSON), None)
    if asset_json is None:
        raise BundleRejected(f"{ASSET_JSON} is missing (put it at the root of the archive)")
    if asset_json.file_size > limits.max_asset_json_bytes:
        raise BundleRejected(f"{ASSET_JSON} is larger than {limits.max_asset_json_bytes} bytes")
    members = tuple(BundleMember(info, info.orig_filename[len(prefix) :]) for info in entries if info is not asset_json)
    _check_no_file_under_a_file(entries)
    for member in members:
        problem = file_id_problem(member.path)
        if problem:
            raise BundleRejected(
                f"member {member.info.orig_filename} cannot be a file of the asset: its path {problem}"
            )
    return BundlePlan(asset_json, members)


def check_member_name(name: str) -> None:
    """Raise ``BundleRejected`` if no member may bear this name, wherever it lies."""
    if "\x00" in name:
        raise BundleRejected(f"member {name!r} has a NUL character in its name")
    if has_control(name):
        raise BundleRejected(f"member {name!r} has a control character in its name")
    if "\\" in name:
        raise BundleRejected(f"member {name} has a backslash in its name (use '/' between folders)")
    parts = name.split("/")
    if name.startswith("/") or (len(parts[0]) == 2 and parts[0][1] == ":") or ".." in parts:
        raise BundleRejected(f"member {name} escapes the archive")


def is_junk(name: str) -> bool:
    return name.startswith(_MACOS_JUNK_FOLDER) or name.rsplit("/", 1)[-1] == _MACOS_JUNK_FILE


def _check_entry(info: zipfile.ZipInfo, limits: BundleLimits) -> None:
    name = info.orig_filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise BundleRejected(f"member {name} is a symbolic link")
    if mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        raise BundleRejected(f"member {name} is not a regular file")
    if info.flag_bits & 0x1:
        raise BundleRejected(f"member {name} is encrypted")
    if info.compress_type not in SUPPORTED_COMPRESSION:
        accepted = ", ".join(SUPPORTED_COMPRESSION.values())
        raise BundleRejected(f"member {name} uses compression method {info.compress_type}; accepted are {accepted}")
    if info.file_size > limits.ratio_applies_above:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise BundleRejected(
                f"member {name} expands {ratio:.0f} times ({info.compress_size} to {info.file_size} bytes); "
                f"at most {limits.max_ratio:.0f} times is accepted"
            )


def _check_no_file_under_a_file(entries: list[zipfile.ZipInfo]) -> None:
    files = {info.orig_filename for info in entries}
    for name in files:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in files:
                raise BundleRejected(f"member {name} lies inside {folder}, which is a file")


def _wrapper_folder(entries: list[zipfile.ZipInfo]) -> str:
    """``folder/`` if every file lies in that one top-level folder and it holds asset.json, else ``""``."""
    names = [i.orig_filename for i in entries]
    if ASSET_JSON in names or not names:
        return ""
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) == 1 and all("/" in name for name in names):
        prefix = tops.pop() + "/"
        if prefix + ASSET_JSON in names:
            return prefix
    return ""
