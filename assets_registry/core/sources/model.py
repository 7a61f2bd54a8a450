"""What a client declares: a bucket (a namespace of the blob store with a policy) and an asset source.

``bucket_spec`` and ``source_spec`` check a request body field by field and raise
``InvalidInput`` listing every problem; what they return is stored as the record's ``spec``.
A bucket name is an S3 bucket's (3-63 of ``a-z 0-9 -``), so that one can become an S3 bucket
or a Swift container later without renaming.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import re2

from assets_registry.core.bucket_names import DEFAULT_BUCKET, bucket_name_problem
from assets_registry.core.errors import FieldError, InvalidInput
from assets_registry.core.identifiers import id_problem

POLICIES = ("none", "readonly", "writeonly", "readwrite")
MODES = ("single", "package", "index")
SOURCE_URL = re2.compile(
    r"https?://([A-Za-z0-9.-]*[A-Za-z0-9]|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?([/?#][^\x00-\x20\x7f]*)?"
)
"""A URL a source may name (matched whole): a host (no credentials, which would be logged) and a port."""
_SOURCE_FIELDS = {"bucket", "url", "mode", "filter", "asset", "services", "parameters"}
_ASSET_FIELDS_NOT_DECLARED = {"asset_id", "files", "asset_file_ids"}


def bucket_spec(name: str, body: Any) -> dict[str, Any]:
    """``{"region", "policy"}`` of ``PUT /buckets/{name}``, checked."""
    errors: list[FieldError] = []
    if problem := bucket_name_problem(name):
        errors.append(FieldError("name", problem))
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidInput('A bucket is a JSON object: {"region": "", "policy": "none"}.')
    for field in sorted(set(body) - {"region", "policy", "name"}):
        errors.append(FieldError(field, "is not a field of a bucket (region, policy)"))
    region, policy = body.get("region", ""), body.get("policy", "none")
    if not isinstance(region, str) or len(region) > 64:
        errors.append(FieldError("region", "must be a string of at most 64 characters"))
    if policy not in POLICIES:
        errors.append(FieldError("policy", f"must be one of {', '.join(POLICIES)}"))
    if "name" in body and body["name"] != name:
        errors.append(FieldError("name", f"must be the name in the URL ({name!r}) if given"))
    _raise(errors, "bucket")
    return {"region": region, "policy": policy}


def source_spec(asset_id: str, body: Any) -> dict[str, Any]:
    """The spec of ``PUT /sources/{asset_id}``, checked and completed with its defaults."""
    if not isinstance(body, dict):
        raise InvalidInput('A source is a JSON object: {"bucket", "url", "mode", …}.')
    errors: list[FieldError] = []
    if problem := id_problem(asset_id):
        errors.append(FieldError("asset_id", problem))
    for field in sorted(set(body) - _SOURCE_FIELDS):
        errors.append(FieldError(field, f"is not a field of a source ({', '.join(sorted(_SOURCE_FIELDS))})"))
    bucket = body.get("bucket", DEFAULT_BUCKET)
    if not isinstance(bucket, str) or bucket_name_problem(bucket):
        errors.append(FieldError("bucket", "must name a bucket (3 to 63 characters of a-z, 0-9 and '-')"))
    url = body.get("url")
    if not isinstance(url, str) or not url:
        errors.append(FieldError("url", "is required: the http:// or https:// URL to fetch"))
    elif len(url) > 4096:
        errors.append(FieldError("url", "must be at most 4096 characters long"))
    elif not SOURCE_URL.fullmatch(url) or not _port_ok(url):
        errors.append(
            FieldError(
                "url", "must be an http:// or https:// URL with a host name or [IPv6] address, no user:password@"
            )
        )
    mode = body.get("mode", "single")
    if mode not in MODES:
        errors.append(FieldError("mode", f"must be one of {', '.join(MODES)}"))
    flt = body.get("filter", "")
    if not isinstance(flt, str):
        errors.append(FieldError("filter", "must be an RE2 pattern (a string)"))
    elif flt:
        try:
            re2.compile(flt)
        except re2.error as exc:
            errors.append(FieldError("filter", f"is not an RE2 pattern: {exc}"))
    asset = body.get("asset", {})
    if not isinstance(asset, dict):
        errors.append(FieldError("asset", "must be an object of the asset document's fields"))
    else:
        for field in sorted(_ASSET_FIELDS_NOT_DECLARED & set(asset)):
            errors.append(FieldError(f"asset.{field}", "comes from the source, not from its spec"))
    services = body.get("services", [])
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        errors.append(FieldError("services", "must be a list of service names"))
    parameters = body.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        errors.append(FieldError("parameters", "must be an object"))
    _raise(errors, "source")
    return {
        "bucket": bucket,
        "url": url,
        "mode": mode,
        "filter": flt,
        "asset": asset,
        "services": list(dict.fromkeys(services)),
        "parameters": parameters,
    }


def _port_ok(url: str) -> bool:
    try:
        port = urlsplit(url).port
    except ValueError:  # past 65535
        return False
    return port is None or port > 0


def _raise(errors: list[FieldError], what: str) -> None:
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidInput(f"The {what} is invalid: {errors[0]}{more}.", errors)
