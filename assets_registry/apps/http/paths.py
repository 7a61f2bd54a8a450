"""Ids in paths taken literally: a trailing or encoded ``/`` never turns one id into another.

Falcon decodes ``%2F`` before routing and the app strips a trailing slash (so ``/assets/``
is ``/assets``); together they made ``DELETE /assets/decoy-0%2F`` delete ``decoy-0``. No
asset or upload id holds a ``/``, so a path whose id segment ends in one (encoded or not)
names no id at all: it is refused before any resource runs.
"""

from __future__ import annotations

from typing import Any

import falcon

from assets_registry.core.errors import InvalidInput

ID_PARAMS = ("asset_id", "upload_id")


class AmbiguousPath(InvalidInput):
    code = "ambiguous_path"


class LiteralIds:
    """Falcon middleware: refuse an id route reached through a stripped trailing ``/``."""

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        if not any(name in params for name in ID_PARAMS):
            return
        raw = str(req.env.get("PATH_INFO", ""))  # decoded by the WSGI server, but not stripped
        if raw.endswith("/"):
            raise AmbiguousPath(
                f"The path {raw!r} ends in '/' (or an encoded %2F) after its id; ids cannot hold '/'. "
                "Send the id without it."
            )
