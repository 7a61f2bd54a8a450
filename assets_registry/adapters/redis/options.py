"""What a ``redis://`` job-tracker URL says: our options, and the URL left for redis-py.

Kept apart from the client code so that it imports without redis-py: a mistyped option is
reported when the configuration is read, whether or not the extra is installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from assets_registry.core.errors import ConfigurationError
from assets_registry.plugins.types import BackendURL

DEFAULT_STREAM = "assets:uploads"
DEFAULT_GROUP = "assets-workers"

OPTIONS: dict[str, str] = {
    "prefix": "prepended to every key this tracker writes (default: none, so the keys are the seed's "
    "UPLOAD_STATUS:<upload_id>); lets several registries share one Redis database",
    "stream": f"the stream that queues upload jobs (default {DEFAULT_STREAM}; the prefix applies)",
    "group": f"the consumer group every worker reads the stream through (default {DEFAULT_GROUP})",
    "ttl": "seconds to keep a finished job's status before Redis drops it (default: kept until deleted)",
    "socket_timeout": "seconds to wait for an answer before the tracker reports Redis unavailable (default 5)",
    "socket_connect_timeout": "seconds to wait for a connection (default 5)",
    "health_check_interval": "seconds a pooled connection may idle before it is checked with PING (default 30)",
    "ssl_ca_certs": "rediss:// only: the CA bundle that signed the server's certificate",
    "ssl_cert_reqs": "rediss:// only: required (default), optional or none",
}
"""The URL options, for ``assets-registry plugins``; redis-py's other URL options pass through."""

_OURS = ("prefix", "stream", "group", "ttl")


@dataclass(frozen=True)
class TrackerOptions:
    """Where the tracker keeps its keys, and the URL redis-py connects with (our options removed)."""

    client_url: str
    prefix: str = ""
    stream: str = DEFAULT_STREAM
    group: str = DEFAULT_GROUP
    ttl: int | None = None

    @property
    def stream_key(self) -> str:
        return self.prefix + self.stream

    def status_key(self, upload_id: str) -> str:
        """The seed's key: ``GET UPLOAD_STATUS:<upload_id>`` answers the job's status string."""
        return f"{self.prefix}UPLOAD_STATUS:{upload_id}"

    def job_key(self, upload_id: str) -> str:
        """The hash holding the rest of the job (staged key, attempts, progress, lease)."""
        return f"{self.prefix}UPLOAD_JOB:{upload_id}"


def tracker_options(url: BackendURL) -> TrackerOptions:
    """Split ``url`` into our options and the plain Redis URL; ``ConfigurationError`` if unusable."""
    parts = url.parts
    if url.scheme not in ("redis", "rediss"):
        raise ConfigurationError(f"The Redis job tracker takes redis:// or rediss:// URLs, not {url}.")
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {name: value for name, value in query if name in _OURS}
    rest = [(name, value) for name, value in query if name not in _OURS]
    client_url = parts._replace(query=urlencode(rest)).geturl()
    stream = ours.get("stream", DEFAULT_STREAM)
    group = ours.get("group", DEFAULT_GROUP)
    if not stream or not group:
        raise ConfigurationError(f"The 'stream' and 'group' options of {url} must not be empty.")
    return TrackerOptions(client_url, ours.get("prefix", ""), stream, group, _ttl(url, ours.get("ttl")))


def _ttl(url: BackendURL, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or int(value) == 0:
        raise ConfigurationError(f"The 'ttl' option of {url} must be a whole number of seconds above 0, not {value!r}.")
    return int(value)
