"""What a bundle may contain, checked from the archive's index before any byte is unpacked.

The rules (``docs/bundles.md`` says the same), for every archive format (``archive.Entry``):

- ``asset.json`` lies at the root, or inside the archive's only top-level folder (as
  Finder's "Compress" and ``zip -r folder`` make); that folder is then left out of every path.
- Every other regular member is a file of the asset; its path is its ``asset_file_id``.
- Folder entries, and the ``__MACOSX/`` and ``.DS_Store`` entries macOS adds, are skipped.
- Refused, naming the member: absolute paths, ``..``, backslashes, NUL and other control
  characters, symbolic links and other non-regular files, duplicate names, a file inside
  a path that is itself a file (``a`` and ``a/b``: no filesystem can hold both), and what
  the format cannot unpack (``Entry.refusal``: for ZIP, encryption and compression methods
  other than stored, deflate, bzip2 and LZMA).
- Bounded: members, total unpacked size, expansion ratio (zip bombs), ``asset.json`` size.
  Declared sizes bound what is written: a format never unpacks past a member's declared
  size (``zipfile`` does not), and a member whose data disagrees with its CRC-32 fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assets_registry.core.bundles.archive import Entry
from assets_registry.core.bundles.errors import BundleRejected
from assets_registry.core.identifiers import file_id_problem, has_control

ASSET_JSON = "asset.json"
_MACOS_JUNK_FOLDER = "__MACOSX/"
_MACOS_JUNK_FILE = ".DS_Store"
MAX_NAME_SEGMENT_BYTES = 255
"""What every blob store (and most filesystems) allow for one folder or file name."""
MAX_STORED_NAME_BYTES = 900
"""S3 and Swift object names are at most 1,024 bytes; ``file_key`` puts ``assets/<upload id>/`` (44)
before the name, and a store's own prefix may take a little more."""
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


@dataclass(frozen=True, slots=True)
class BundleMember:
    """A file of the asset inside the archive: its entry, and its path in the asset."""

    entry: Entry
    path: str

    @property
    def name(self) -> str:
        """The member's name as the archive spells it."""
        return self.entry.name

    @property
    def size(self) -> int:
        return self.entry.size


@dataclass(frozen=True)
class BundlePlan:
    asset_json: Entry | None
    """None only for a package that may come without one (``asset_json_required=False``)."""
    members: tuple[BundleMember, ...]

    @property
    def unpacked_bytes(self) -> int:
        return sum(m.size for m in self.members)


def plan_bundle(
    entries: Sequence[Entry], archive_bytes: int, limits: BundleLimits, asset_json_required: bool = True
) -> BundlePlan:
    """Check every entry of the archive's index; raise ``BundleRejected`` naming the first offender.

    A source's package may come without ``asset.json`` (``asset_json_required=False``): its
    document then comes from the source's spec, and every file is a member."""
    if len(entries) > limits.max_members + 1:
        raise BundleRejected(f"the archive has {len(entries)} members; at most {limits.max_members} files are accepted")
    seen: set[str] = set()
    files: list[Entry] = []
    total = 0
    for entry in entries:
        name = entry.name
        check_member_name(name)
        if name in seen:
            raise BundleRejected(f"member {name} appears twice in the archive")
        seen.add(name)
        if is_junk(name) or entry.kind == "folder":
            continue
        check_entry(entry, limits)
        total += entry.size
        if total > limits.max_unpacked_bytes:
            raise BundleRejected(
                f"the archive unpacks to more than {limits.max_unpacked_bytes} bytes, the most accepted"
            )
        files.append(entry)
    if total > limits.ratio_applies_above and total / max(archive_bytes, 1) > limits.max_ratio:
        raise BundleRejected(
            f"the archive expands {total / max(archive_bytes, 1):.0f} times ({archive_bytes} to {total} bytes); "
            f"at most {limits.max_ratio:.0f} times is accepted"
        )
    prefix = _wrapper_folder(files)
    asset_json = next((e for e in files if e.name == prefix + ASSET_JSON), None)
    if asset_json is None and asset_json_required:
        raise BundleRejected(f"{ASSET_JSON} is missing (put it at the root of the archive)")
    if asset_json is not None and asset_json.size > limits.max_asset_json_bytes:
        raise BundleRejected(f"{ASSET_JSON} is larger than {limits.max_asset_json_bytes} bytes")
    members = tuple(BundleMember(e, e.name[len(prefix) :]) for e in files if e is not asset_json)
    _check_no_file_under_a_file(files)
    for member in members:
        problem = file_id_problem(member.path)
        if problem:
            raise BundleRejected(f"member {member.name} cannot be a file of the asset: its path {problem}")
        problem = stored_name_problem(member.name)
        if problem:
            raise BundleRejected(f"member {member.name} cannot be stored: {problem}")
    return BundlePlan(asset_json, members)


def stored_name_problem(name: str) -> str | None:
    """Why a member of this name cannot become a blob (``file_key``), or None.

    The blob stores share one set of key rules (``plugins.store_helpers.key_problem``); the
    rules a member's name can break are checked here, before any blob is written, so that
    nothing is written under a key that could not be deleted again.
    """
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "its path must not have empty, '.' or '..' path segments"
    if any(len(part.encode()) > MAX_NAME_SEGMENT_BYTES for part in parts):
        return f"a folder or file name in its path is longer than {MAX_NAME_SEGMENT_BYTES} bytes"
    if len(name.encode()) > MAX_STORED_NAME_BYTES:
        return f"its path is longer than {MAX_STORED_NAME_BYTES} bytes, which not every blob store can hold"
    return None


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


def check_entry(entry: Entry, limits: BundleLimits) -> None:
    """Raise ``BundleRejected`` if this entry may not be unpacked (a link, a device, a bomb)."""
    name = entry.name
    if entry.kind == "link":
        raise BundleRejected(f"member {name} is a symbolic link")
    if entry.kind != "file":
        raise BundleRejected(f"member {name} is not a regular file")
    if entry.refusal:
        raise BundleRejected(f"member {name} {entry.refusal}")
    if entry.size > limits.ratio_applies_above:
        ratio = entry.size / max(entry.packed, 1)
        if ratio > limits.max_ratio:
            raise BundleRejected(
                f"member {name} expands {ratio:.0f} times ({entry.packed} to {entry.size} bytes); "
                f"at most {limits.max_ratio:.0f} times is accepted"
            )


def _check_no_file_under_a_file(files: list[Entry]) -> None:
    names = {entry.name for entry in files}
    for name in names:
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in names:
                raise BundleRejected(f"member {name} lies inside {folder}, which is a file")


def _wrapper_folder(files: list[Entry]) -> str:
    """``folder/`` if every file lies in that one top-level folder and it holds asset.json, else ``""``."""
    names = [e.name for e in files]
    if ASSET_JSON in names or not names:
        return ""
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) == 1 and all("/" in name for name in names):
        prefix = tops.pop() + "/"
        if prefix + ASSET_JSON in names:
            return prefix
    return ""
