"""botocore's failures, told as the domain's errors.

The registry's layers above the adapters know ``BlobNotFound`` and ``BackendUnavailable``,
never botocore. Messages say what an operator should look at, and never carry a secret:
they are built from the error code S3 sent and the bucket name, nothing from the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from assets_registry.core.errors import BackendUnavailable, BlobNotFound

BACKEND = "blob store (S3)"

REFUSED_CREDENTIALS = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "AuthorizationHeaderMalformed",
        "RequestTimeTooSkewed",
        "InvalidSecurity",
        "403",
    }
)
NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
OUT_OF_RANGE = frozenset({"InvalidRange", "416"})


def error_code(exc: Any) -> str:
    """The S3 error code of a ``ClientError`` (``"404"`` for a HEAD, which has no body)."""
    if not isinstance(exc, ClientError):
        return "?"
    response = exc.response
    return str(response.get("Error", {}).get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?"))


def unavailable(exc: Exception, bucket: str, key: str | None = None) -> Exception:
    """The domain error for a botocore failure on ``bucket`` (and ``key``, where a blob is meant)."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if key is not None and code in NOT_FOUND:
            return BlobNotFound(key)
        if code == "NoSuchBucket" or (key is None and code in NOT_FOUND):
            return BackendUnavailable(
                BACKEND, f"the bucket {bucket!r} does not exist: create it, or add create_bucket=true to the URL"
            )
        if code in REFUSED_CREDENTIALS:
            hint = " or the bucket's policy" if code in ("AccessDenied", "403") else ""
            return BackendUnavailable(
                BACKEND,
                f"S3 refused the credentials ({code}) for the bucket {bucket!r}: "
                f"check the access key id and secret{hint}",
            )
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        return BackendUnavailable(BACKEND, f"S3 answered {code} (HTTP {status}) for the bucket {bucket!r}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return BackendUnavailable(
            BACKEND,
            "no S3 credentials were found: set access_key_id and secret_access_key, "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
        )
    # Connection refused or reset, timeouts, a body cut short: the server is down or struggling.
    return BackendUnavailable(BACKEND, f"{type(exc).__name__}: {_short(exc)}")


def _short(exc: Exception) -> str:
    """The first line of botocore's message, which names the endpoint but no credential."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:300]


@contextmanager
def translated(bucket: str, key: str | None = None) -> Iterator[None]:
    """Run S3 calls, raising the domain's errors for botocore's.

    Only wrap calls to the client: an exception from the caller's own chunks must reach the
    caller unchanged, so the code that pulls chunks stays outside this block.
    """
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise unavailable(exc, bucket, key) from exc
