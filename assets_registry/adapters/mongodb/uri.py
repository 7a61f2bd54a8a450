"""The backend URL, read as a MongoDB connection string plus the registry's own options.

Pure string work, no pymongo: the URL goes to pymongo as the operator wrote it (hosts,
replica set, credentials, TLS, write concern), minus ``collection`` and ``lookup_hints``, which are ours
and which pymongo would warn about. Timeouts get defaults that make a down server an answer within
seconds: the driver's own defaults wait 30 s to select a server and forever on a socket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from assets_registry.core.errors import ConfigurationError

DEFAULT_DATABASE = "assets_registry"
DEFAULT_COLLECTION = "assets"
CLIENT_DEFAULTS: dict[str, Any] = {
    "serverSelectionTimeoutMS": 5000,
    "connectTimeoutMS": 5000,
    "socketTimeoutMS": 30000,
    "appname": "assets-registry",
}
"""Driver options set unless the URL sets them (URL option names are case-insensitive)."""

OPTIONS = {
    "collection": f"the collection holding the assets (default {DEFAULT_COLLECTION!r}); the URL's "
    f"path names the database (default {DEFAULT_DATABASE!r})",
    "lookup_hints": "true: hint the lookups' compound indexes, for a server whose planner does not pick them "
    "(default false: MongoDB's and SecantusDB's planners do, and SecantusDB takes 50x longer with a hint)",
    "serverSelectionTimeoutMS": "how long a request waits for a usable server before answering 503 (default 5000)",
    "connectTimeoutMS": "TCP/TLS connection timeout (default 5000)",
    "socketTimeoutMS": "how long one operation may wait for the server's reply (default 30000)",
    "(any other)": "every MongoDB connection-string option (replicaSet, tls, tlsCAFile, authSource, w, "
    "readPreference, ...) goes to pymongo as written; retryWrites stays on unless set to false",
}


@dataclass(frozen=True)
class MongoTarget:
    """Where the store lives: what pymongo gets, and the names it does not take from the URL."""

    client_uri: str = field(repr=False)
    collection: str = DEFAULT_COLLECTION
    client_options: dict[str, Any] = field(default_factory=dict)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    lookup_hints: bool = False

    def scrub(self, text: str) -> str:
        """``text`` with any password of the URL replaced by ``***`` (for error messages)."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def parse_target(url: str) -> MongoTarget:
    """Split the registry's options off a MongoDB connection string."""
    base, _, query = url.partition("?")
    separator = ";" if ";" in query and "&" not in query else "&"
    kept: list[str] = []
    collection = DEFAULT_COLLECTION
    hints = False
    given: set[str] = set()
    for item in re.split("[&;]", query) if query else []:
        name, _, value = item.partition("=")
        if unquote_plus(name) == "collection":
            collection = unquote_plus(value)
        elif unquote_plus(name) == "lookup_hints":
            hints = _flag(unquote_plus(value))
        elif item:
            kept.append(item)
            given.add(unquote_plus(name).lower())
    client_uri = f"{base}?{separator.join(kept)}" if kept else base
    defaults = {name: value for name, value in CLIENT_DEFAULTS.items() if name.lower() not in given}
    return MongoTarget(client_uri, collection, defaults, _secrets(base), hints)


def _flag(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no", ""):
        return False
    raise ConfigurationError(f"The MongoDB URL option lookup_hints takes true or false, not {value!r}.")


def _secrets(base: str) -> tuple[str, ...]:
    """The URL's password as written and decoded: both may show up in a driver's message."""
    try:
        password = urlsplit(base).password
    except ValueError:
        return ()
    if not password:
        return ()
    return tuple({password, unquote_plus(password)})
