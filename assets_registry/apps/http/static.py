"""``/static/{path}``: the scripts and stylesheets the registry's pages use, shipped in the package.

A self-hosted registry often runs where no CDN can be reached, so no page loads anything from
another host: GraphiQL and React come from ``apps/static/vendor`` (their licences beside them;
the versions and why in ``docs/decisions/0019-pages-ship-their-scripts.md``). Only files that
are in the package are served (a fixed list read at start-up, so no path from a client ever
reaches the file system); each with its type, a strong ``ETag`` and a day of caching, and
``304`` on ``If-None-Match``. Open to everyone, like ``/healthz``: they hold no data.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from importlib.abc import Traversable

import falcon

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def _files(folder: Traversable, prefix: str = "") -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in folder.iterdir():
        if entry.is_dir():
            found |= _files(entry, f"{prefix}{entry.name}/")
        elif any(entry.name.endswith(suffix) for suffix in _TYPES):
            found[prefix + entry.name] = entry
    return found


class StaticResource:
    """The package's static files by their path under ``apps/static``."""

    open_to_all = True

    def __init__(self) -> None:
        root = resources.files("assets_registry.apps").joinpath("static")
        self.files = _files(root)
        self.etags = {name: f'"{hashlib.sha256(f.read_bytes()).hexdigest()[:32]}"' for name, f in self.files.items()}

    def on_get(self, req: falcon.Request, resp: falcon.Response, path: str) -> None:
        entry = self.files.get(path)
        if entry is None:
            raise falcon.HTTPNotFound(description=f"No static file is called {path!r}.")
        etag = self.etags[path]
        resp.set_header("ETag", etag)
        resp.set_header("Cache-Control", "public, max-age=86400")
        resp.content_type = next(kind for suffix, kind in _TYPES.items() if path.endswith(suffix))
        if req.get_header("If-None-Match") == etag:
            resp.status = 304
            return
        resp.data = entry.read_bytes()
