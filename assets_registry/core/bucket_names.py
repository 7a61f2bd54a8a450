"""Bucket names: S3's (3-63 of ``a-z 0-9 -``), so that one can become an S3 bucket or a Swift
container without renaming; and the bucket everything goes to unless told otherwise.

Apart from ``core.sources`` so that ``core.access`` (which ``Registry`` uses) can read them.
"""

from __future__ import annotations

import re

FILES_PREFIX = "assets/"
"""Where every file blob of the registry lives (``core.bundles.keys`` names the rest of the layout)."""
DEFAULT_BUCKET = "default"
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
"""Matched whole (``fullmatch``): ``$`` would let a name end in a newline."""


def bucket_name_problem(name: str) -> str | None:
    if not BUCKET_NAME.fullmatch(name):
        return "must be 3 to 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit"
    return None


def bucket_of_key(key: str) -> str | None:
    """The bucket whose folder holds a blob key (``assets/b.<name>[~<step>]/…``); None if none does."""
    if not key.startswith(FILES_PREFIX + "b."):
        return None
    name = key[len(FILES_PREFIX) + 2 :].split("/", 1)[0].split("~", 1)[0]
    return name if BUCKET_NAME.fullmatch(name) else None


__all__ = ["BUCKET_NAME", "DEFAULT_BUCKET", "FILES_PREFIX", "bucket_name_problem", "bucket_of_key"]
