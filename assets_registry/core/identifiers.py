"""Identifier rules, and the consistency of the ids an asset lists.

Asset, profile, policy and API ids appear as one URL path segment (``/assets/{id}``,
``/zip/download/{id}``) and as object-store key parts, so they are 1 to 256 characters, with
no control character, no ``/``, no surrounding whitespace, and never ``.`` or ``..`` (which
HTTP clients rewrite). File ids are the member paths of ZIP bundles, so they may contain
``/`` but must be relative, clean paths that cannot climb out of a folder.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from assets_registry.core.errors import FieldError

if TYPE_CHECKING:
    from assets_registry.core.model import Asset

MAX_ID_LENGTH = 256
MAX_FILE_ID_LENGTH = 1024


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an asset, profile, policy or API id, or None if it can."""
    if not value:
        return "must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters long"
    if has_control(value):
        return "must not contain control characters"
    if "/" in value:
        return "must not contain '/'"
    if value != value.strip():
        return "must not start or end with whitespace"
    if value in (".", ".."):
        return "must not be '.' or '..'"
    return None


def file_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a file id (a relative member path), or None if it can."""
    if not value:
        return "must not be empty"
    if len(value) > MAX_FILE_ID_LENGTH:
        return f"must be at most {MAX_FILE_ID_LENGTH} characters long"
    if has_control(value):
        return "must not contain control characters"
    if "\\" in value:
        return "must use '/' between folders, not '\\'"
    if value.startswith("/"):
        return "must be a relative path (no leading '/')"
    if any(part in ("", ".", "..") for part in value.split("/")):
        return "must not have empty, '.' or '..' path segments"
    return None


CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")
"""Unicode's control characters (category Cc) are exactly these 65 code points."""


def has_control(value: str) -> bool:
    return CONTROL_CHARACTER.search(value) is not None


def check_asset(asset: Asset) -> list[FieldError]:
    """Every identifier problem of a (type-valid) asset, with its JSON path."""
    errors: list[FieldError] = []

    def check(path: str, value: str, rule: Callable[[str], str | None] = id_problem) -> None:
        problem = rule(value)
        if problem:
            errors.append(FieldError(path, f"{value!r} {problem}"))

    check("asset_id", asset.asset_id)
    check("asset_profile_id", asset.asset_profile_id)
    for i, pid in enumerate(asset.asset_policy_ids):
        check(f"asset_policy_ids[{i}]", pid)
    for i, aid in enumerate(asset.asset_api_ids):
        check(f"asset_api_ids[{i}]", aid)
    for i, fid in enumerate(asset.asset_file_ids):
        check(f"asset_file_ids[{i}]", fid, file_id_problem)
    for i, profile in enumerate(asset.profiles):
        check(f"profiles[{i}].asset_profile_id", profile.asset_profile_id)
    for i, policy in enumerate(asset.policies):
        check(f"policies[{i}].asset_policy_id", policy.asset_policy_id)
    for i, api in enumerate(asset.apis):
        check(f"apis[{i}].asset_api_id", api.asset_api_id)
    for i, file in enumerate(asset.files):
        check(f"files[{i}].asset_file_id", file.asset_file_id, file_id_problem)

    errors += _duplicates("asset_file_ids", asset.asset_file_ids)
    errors += _duplicates("asset_policy_ids", asset.asset_policy_ids)
    errors += _duplicates("asset_api_ids", asset.asset_api_ids)
    errors += _duplicates("profiles", (p.asset_profile_id for p in asset.profiles), ".asset_profile_id")
    errors += _duplicates("policies", (p.asset_policy_id for p in asset.policies), ".asset_policy_id")
    errors += _duplicates("apis", (a.asset_api_id for a in asset.apis), ".asset_api_id")
    errors += _duplicates("files", (f.asset_file_id for f in asset.files), ".asset_file_id")
    errors += _file_lists_agree(asset)
    return errors


def _duplicates(name: str, values: Iterable[str], suffix: str = "") -> list[FieldError]:
    seen: set[str] = set()
    errors = []
    for i, value in enumerate(values):
        if value in seen:
            errors.append(FieldError(f"{name}[{i}]{suffix}", f"{value!r} appears more than once"))
        seen.add(value)
    return errors


def _file_lists_agree(asset: Asset) -> list[FieldError]:
    """``asset_file_ids`` and ``files[]`` must name the same files (order may differ)."""
    listed = Counter(asset.asset_file_ids)
    described = {f.asset_file_id for f in asset.files}
    errors = [
        FieldError(f"files[{i}].asset_file_id", f"{f.asset_file_id!r} is not listed in asset_file_ids")
        for i, f in enumerate(asset.files)
        if f.asset_file_id not in listed
    ]
    errors += [
        FieldError(f"asset_file_ids[{i}]", f"{fid!r} has no entry in files[]")
        for i, fid in enumerate(asset.asset_file_ids)
        if fid not in described
    ]
    return errors
