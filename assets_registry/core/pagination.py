"""Page sizes and opaque cursors for list answers.

List answers stay JSON arrays (seed clients expect arrays), so the cursor of the next page
travels in a header. It is the last ``asset_id`` of the page, base64url-encoded so that
clients treat it as opaque and any id fits in a URL query string.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from assets_registry.core.errors import InvalidCursor, InvalidInput


@dataclass(frozen=True)
class PageLimits:
    default: int = 100
    maximum: int = 1000

    def resolve(self, limit: int | None) -> int:
        """The page size to use for a requested ``limit`` (None: the default)."""
        if limit is None:
            return self.default
        if limit < 1 or limit > self.maximum:
            raise InvalidInput(f"limit must be between 1 and {self.maximum}; got {limit}.")
        return limit


_PREFIX = "a:"


def encode_cursor(after: str) -> str:
    return base64.urlsafe_b64encode((_PREFIX + after).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The ``after`` value of a cursor; raise ``InvalidCursor`` for one we did not make."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor() from None
    if not raw.startswith(_PREFIX):
        raise InvalidCursor()
    return raw[len(_PREFIX) :]
