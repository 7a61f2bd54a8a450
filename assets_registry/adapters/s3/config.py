"""What an ``s3://`` URL asks for, checked before any S3 client is built.

Parsing lives apart from the store so that a mistyped URL is refused with a sentence at
start-up, and so that this module (like the plugin's ``__init__``) imports without boto3.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import quote, unquote

from assets_registry.core.errors import ConfigurationError
from assets_registry.plugins.types import BackendURL

MiB = 1 << 20
MIN_PART_SIZE = 5 * MiB
"""S3 refuses multipart parts below 5 MiB (except the last one)."""
MAX_PART_SIZE = 5 * 1024 * MiB
DEFAULT_PART_SIZE = 8 * MiB
DEFAULT_PARTS_IN_FLIGHT = 2

# botocore's own check (``validate_bucket_name``), which accepts more than AWS does so that
# other S3 servers' names pass; anything else would fail later as a client-side error.
_BUCKET = re.compile(r"^[a-zA-Z0-9.\-_]{1,255}$")
N = TypeVar("N", int, float)
_STYLES = ("path", "virtual", "auto")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")

OPTIONS: dict[str, str] = {
    "endpoint_url": "S3 endpoint, e.g. http://127.0.0.1:8333 (default: AWS for the region, or AWS_ENDPOINT_URL_S3)",
    "region": "region to sign requests for (default: AWS_REGION / AWS_DEFAULT_REGION / the AWS config, else us-east-1)",
    "addressing_style": "path, virtual or auto (default: path with endpoint_url, auto without)",
    "create_bucket": "true: create the bucket on first use if it is missing (default false)",
    "part_size": f"bytes per multipart part, {MIN_PART_SIZE} to {MAX_PART_SIZE} (default {DEFAULT_PART_SIZE}); "
    "smaller blobs go in one PUT",
    "parts_in_flight": "parts (and download segments) sent or fetched at once per blob, 1 to 32 (default 2); "
    "memory per transfer is about parts_in_flight + 1 parts",
    "access_key_id": "access key id, or s3://ID:SECRET@BUCKET "
    "(default: the AWS chain: AWS_ACCESS_KEY_ID, AWS_PROFILE, config files, roles)",
    "secret_access_key": "secret key going with access_key_id (better given through the environment)",
    "session_token": "session token of temporary credentials, with access_key_id",
    "profile": "AWS config profile to take credentials and region from (default: AWS_PROFILE)",
    "connect_timeout": "seconds to wait for a connection (default 5)",
    "read_timeout": "seconds to wait for an answer to a request (default 60)",
    "max_attempts": "attempts per request, retries included (standard retry mode; default 3)",
}


@dataclass(frozen=True)
class S3Config:
    """Everything the store needs to reach one bucket (and prefix) of one S3 service."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str = "auto"
    create_bucket: bool = False
    part_size: int = DEFAULT_PART_SIZE
    parts_in_flight: int = DEFAULT_PARTS_IN_FLIGHT
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)  # never in a log or a traceback
    session_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_attempts: int = 3

    @property
    def url_prefix(self) -> str:
        """What every blob URL of this store starts with: ``s3://BUCKET/`` or ``s3://BUCKET/PREFIX/``."""
        folder = quote(self.prefix) + "/" if self.prefix else ""
        return f"s3://{self.bucket}/{folder}"

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key


def parse_s3_url(url: BackendURL, environ: Mapping[str, str]) -> S3Config:
    """The settings of ``s3://BUCKET[/PREFIX]?options``; ``ConfigurationError`` names what is wrong."""
    bucket = url.host
    if not _BUCKET.match(bucket):
        raise ConfigurationError(
            f"The s3:// URL {url} needs a bucket name (letters, digits, '.', '-', '_'): s3://BUCKET[/PREFIX]?options."
        )
    options = url.options
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"The s3:// URL has unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(OPTIONS))}."
        )
    prefix = url.path.strip("/")
    if prefix and any(p in ("", ".", "..") for p in prefix.split("/")):
        raise ConfigurationError(f"The s3:// URL's prefix {prefix!r} must not have empty, '.' or '..' segments.")
    endpoint = options.get("endpoint_url") or environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    style = options.get("addressing_style") or ("path" if endpoint else "auto")
    if style not in _STYLES:
        raise ConfigurationError(
            f"The s3:// option addressing_style must be one of {', '.join(_STYLES)}, not {style!r}."
        )
    part_size = _number(options, "part_size", DEFAULT_PART_SIZE, int)
    if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
        raise ConfigurationError(
            f"The s3:// option part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes "
            f"(S3's limits), not {part_size}."
        )
    in_flight = _number(options, "parts_in_flight", DEFAULT_PARTS_IN_FLIGHT, int)
    if not 1 <= in_flight <= 32:
        raise ConfigurationError(f"The s3:// option parts_in_flight must be between 1 and 32, not {in_flight}.")
    key_id, secret, token = _credentials(url, options, environ)
    return S3Config(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint or None,
        region=options.get("region") or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
        addressing_style=style,
        create_bucket=_flag(options, "create_bucket"),
        part_size=part_size,
        parts_in_flight=in_flight,
        access_key_id=key_id,
        secret_access_key=secret,
        session_token=token,
        profile=None if key_id else (options.get("profile") or environ.get("AWS_PROFILE") or None),
        connect_timeout=_number(options, "connect_timeout", 5.0, float),
        read_timeout=_number(options, "read_timeout", 60.0, float),
        max_attempts=_number(options, "max_attempts", 3, int),
    )


def _credentials(
    url: BackendURL, options: Mapping[str, str], environ: Mapping[str, str]
) -> tuple[str | None, str | None, str | None]:
    """Keys from the URL (``s3://ID:SECRET@BUCKET`` or options), else from the registry's environment.

    (None, None, None) leaves them to boto3's chain (profile, config files, roles).

    The environment is read from the adapter context rather than left to boto3, which only
    sees ``os.environ``: a registry built with its own environment gets the keys it was given.
    """
    key_id, secret = options.get("access_key_id"), options.get("secret_access_key")
    if url.parts.username or url.parts.password:  # s3://KEY_ID:SECRET@BUCKET, as other URL-configured tools take
        if key_id or secret:
            raise ConfigurationError("The s3:// URL gives credentials twice: before the bucket and as options.")
        key_id, secret = unquote(url.parts.username or ""), unquote(url.parts.password or "")
    if key_id or secret:
        if not (key_id and secret):
            raise ConfigurationError("The s3:// options access_key_id and secret_access_key go together: give both.")
        return key_id, secret, options.get("session_token") or None
    key_id, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if key_id and secret:
        return key_id, secret, environ.get("AWS_SESSION_TOKEN") or None
    return None, None, None


def _flag(options: Mapping[str, str], name: str) -> bool:
    value = options.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"The s3:// option {name} must be true or false, not {value!r}.")


def _number(options: Mapping[str, str], name: str, default: N, kind: type[N]) -> N:
    raw = options.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigurationError(f"The s3:// option {name} must be a number, not {raw!r}.") from None
    if value <= 0:
        raise ConfigurationError(f"The s3:// option {name} must be greater than 0, not {raw!r}.")
    return value
