"""A ``ceph://`` URL read into settings, and the ``swiftclient.Connection`` arguments they make.

Kept apart from the store so that a URL can be checked, and the client's arguments
inspected, without python-swiftclient installed and without a gateway to talk to.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assets_registry.core.errors import ConfigurationError
from assets_registry.plugins import AdapterContext
from assets_registry.plugins.store_helpers import key_problem

MiB = 1 << 20
DEFAULT_SEGMENT_SIZE = 16 * MiB
MIN_SEGMENT_SIZE = MiB
MAX_SEGMENT_SIZE = 5 << 30
"""RGW's ``rgw_max_put_size``: no single object (so no segment) may be larger."""
DEFAULT_MAX_SEGMENTS = 1000
"""RGW's ``rgw_max_slo_entries``: a manifest naming more segments is refused."""

OPTIONS: dict[str, str] = {
    "auth_url": "Swift auth endpoint, e.g. http://gateway:7480/auth/1.0 (v1) or https://keystone:5000/v3 (required)",
    "user": "Swift user, 'account:subuser' for RGW v1 auth (e.g. ci:swift), or the Keystone user name (required)",
    "key": "the user's Swift key or password; better from $ST_KEY (v1) or $OS_PASSWORD (v3), kept out of URLs",
    "password": "same as key (hidden when the URL is logged)",
    "auth_version": "1 (RGW's own Swift auth, default) or 3 (Keystone; needs python-keystoneclient)",
    "project_name": "Keystone v3 project (tenant) to scope the token to",
    "project_domain_name": "Keystone v3 domain of the project",
    "user_domain_name": "Keystone v3 domain of the user",
    "region_name": "Keystone catalog region whose object-store endpoint to use",
    "interface": "Keystone catalog interface: public (default), internal or admin",
    "create_container": "true (default): create CONTAINER and CONTAINER_segments at start if missing",
    "segment_size": "bytes per segment (K/M/G suffixes allowed, default 16M); smaller blobs are one object, "
    "larger ones a Static Large Object; each upload buffers one segment in memory",
    "max_segments": "most segments per blob (default 1000, RGW's rgw_max_slo_entries): blobs are limited to "
    "segment_size x max_segments",
    "timeout": "seconds to wait for an answer from the gateway (default 10)",
    "connect_timeout": "seconds to wait for a connection, v1 auth only (default 3; Keystone uses timeout)",
    "retries": "retries of a failed request, with a short backoff (default 2)",
    "cacert": "CA bundle file to verify the gateway's TLS certificate",
    "insecure": "true to skip TLS certificate checks (testing only)",
}

_KEYSTONE_OPTIONS = ("project_name", "project_domain_name", "user_domain_name", "region_name")
_AUTH_VERSIONS = {"1": "1", "1.0": "1", "3": "3", "3.0": "3"}
_SIZE = re.compile(r"(\d+)\s*([kmg]?)(?:i?b)?", re.IGNORECASE)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class CephConfig:
    """Where blobs go (container, prefix), how to log in, and how uploads are cut."""

    container: str
    prefix: str
    auth_url: str
    user: str
    key: str = field(repr=False)
    auth_version: str = "1"
    os_options: Mapping[str, str] = field(default_factory=dict)
    create_container: bool = True
    segment_size: int = DEFAULT_SEGMENT_SIZE
    max_segments: int = DEFAULT_MAX_SEGMENTS
    timeout: float = 10.0
    connect_timeout: float = 3.0
    retries: int = 2
    cacert: str | None = None
    insecure: bool = False

    @property
    def segments_container(self) -> str:
        """Where the segments of large blobs live: swiftclient's naming, so tools agree."""
        return f"{self.container}_segments"

    def connection_kwargs(self) -> dict[str, Any]:
        """The arguments of ``swiftclient.Connection``.

        Few retries with a short backoff, and bounded timeouts, so a gateway that is down
        gives an answer in seconds instead of swiftclient's default of about a minute.
        """
        # requests takes (connect, read); keystoneclient's sessions take one number only.
        timeout: Any = (self.connect_timeout, self.timeout) if self.auth_version == "1" else self.timeout
        return {
            "authurl": self.auth_url,
            "user": self.user,
            "key": self.key,
            "auth_version": self.auth_version,
            "os_options": dict(self.os_options),
            "retries": self.retries,
            "starting_backoff": 0.5,
            "max_backoff": 2,
            "timeout": timeout,
            "cacert": self.cacert,
            "insecure": self.insecure,
            "retry_on_ratelimit": True,
        }


def parse_config(context: AdapterContext) -> CephConfig:
    """Read ``ceph://CONTAINER[/PREFIX]?auth_url=...`` and the secrets from the environment."""
    url = context.url
    options = url.options
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"Unknown option(s) {', '.join(unknown)} in the ceph:// URL; the known ones are: {', '.join(OPTIONS)}."
        )
    container = url.host
    if not container or "/" in container or len(container.encode()) > 256:
        raise ConfigurationError("A ceph:// URL names its container first: ceph://CONTAINER[/PREFIX]?auth_url=...")
    prefix = url.path.strip("/")
    problem = key_problem(prefix) if prefix else None
    if problem:
        raise ConfigurationError(f"The prefix {prefix!r} of the ceph:// URL {problem}.")
    auth_version = _AUTH_VERSIONS.get(options.get("auth_version", "1"))
    if auth_version is None:
        raise ConfigurationError("auth_version in the ceph:// URL must be 1 (Swift auth) or 3 (Keystone).")
    auth_url, user = options.get("auth_url"), options.get("user")
    if not auth_url or not user:
        raise ConfigurationError("A ceph:// URL needs auth_url and user options (and the key, best from $ST_KEY).")
    secret_variable = "ST_KEY" if auth_version == "1" else "OS_PASSWORD"
    key = options.get("key") or options.get("password") or context.environ.get(secret_variable)
    if not key:
        raise ConfigurationError(f"The ceph:// store needs the user's key: set ${secret_variable} (or key=...).")
    os_options = {name: options[name] for name in _KEYSTONE_OPTIONS if options.get(name)}
    if options.get("interface"):
        os_options["endpoint_type"] = options["interface"]  # swiftclient's name for it
    segment_size = _size(options.get("segment_size"), DEFAULT_SEGMENT_SIZE, "segment_size")
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise ConfigurationError("segment_size in the ceph:// URL must be between 1 MiB and 5 GiB.")
    return CephConfig(
        container=container,
        prefix=prefix,
        auth_url=auth_url,
        user=user,
        key=key,
        auth_version=auth_version,
        os_options=os_options,
        create_container=_flag(options.get("create_container"), True, "create_container"),
        segment_size=segment_size,
        max_segments=int(_number(options.get("max_segments"), DEFAULT_MAX_SEGMENTS, "max_segments", minimum=1)),
        timeout=_number(options.get("timeout"), 10.0, "timeout", minimum=0.1),
        connect_timeout=_number(options.get("connect_timeout"), 3.0, "connect_timeout", minimum=0.1),
        retries=int(_number(options.get("retries"), 2, "retries", minimum=0)),
        cacert=options.get("cacert") or None,
        insecure=_flag(options.get("insecure"), False, "insecure"),
    )


def require_keystone_client(config: CephConfig) -> None:
    """Keystone logins need python-keystoneclient, which swiftclient does not install: say so at start."""
    if config.auth_version == "3" and importlib.util.find_spec("keystoneclient") is None:
        raise ConfigurationError(
            "The ceph:// store with auth_version=3 (Keystone) needs python-keystoneclient: "
            "pip install python-keystoneclient"
        )


def _flag(value: str | None, default: bool, name: str) -> bool:
    if value is None or value == "":
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigurationError(f"{name} in the ceph:// URL must be true or false, not {value!r}.")


def _number(value: str | None, default: float, name: str, minimum: float) -> float:
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigurationError(f"{name} in the ceph:// URL must be a number, not {value!r}.") from None
    if number < minimum:
        raise ConfigurationError(f"{name} in the ceph:// URL must be at least {minimum:g}.")
    return number


def _size(value: str | None, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise ConfigurationError(f"{name} in the ceph:// URL must be a size in bytes (16777216 or 16M), not {value!r}.")
    return int(match[1]) << {"": 0, "k": 10, "m": 20, "g": 30}[match[2].lower()]
