"""The JSON Schemas of ``/openapi.json``: the asset's from the model itself, the others of each answer.

The asset schema is pydantic's JSON Schema of ``core.model.Asset`` (the type the server decodes
every document into), completed with what the model checks beyond types: the identifier rules
of ``core.identifiers`` as patterns, and the back-reference ``asset_id`` of profiles, policies
and APIs optional (filled in from the parent). A schema here is as wide as what the server
accepts, no wider and no narrower, so that a client generating inputs from it (schemathesis
does, in CI) sees valid ones taken and invalid ones refused. Rules between fields (the files
of ``asset_file_ids`` and ``files[]`` agree, no id twice) are in the descriptions.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from assets_registry.core import identifiers
from assets_registry.core.access import RESERVED_NAMES, TOKEN_NAME
from assets_registry.core.bucket_names import BUCKET_NAME
from assets_registry.core.model import Asset
from assets_registry.core.sources.model import MODES, POLICIES, SOURCE_URL

_CONTROL = r"\x00-\x1f\x7f-\x9f"


def _whole(pattern: str) -> str:
    """``pattern`` matched against the whole string, in ECMA-262 and in Python alike (Python's
    ``$`` also matches before a final newline, so none is allowed anywhere)."""
    return rf"^(?!.*\n)(?:{pattern})$"


ID_PATTERN = _whole(rf"(?!\.\.?$)(?!\s)(?!.*\s$)[^{_CONTROL}/]{{1,{identifiers.MAX_ID_LENGTH}}}")
"""``identifiers.id_problem`` as a pattern: 1-256 characters, no control character, no ``/``,
no surrounding whitespace, not ``.`` or ``..``."""
FILE_ID_PATTERN = _whole(
    rf"(?!/)(?!.*//)(?!.*/$)(?!(.*/)?\.\.?(/|$))[^{_CONTROL}\\]{{1,{identifiers.MAX_FILE_ID_LENGTH}}}"
)
"""``identifiers.file_id_problem`` as a pattern: a relative, clean member path."""
BUCKET_PATTERN = _whole(BUCKET_NAME.pattern)
URL_PATTERN = _whole(SOURCE_URL.pattern)
IF_MATCH_PATTERN = r'^\s*(\*|(W/)?"*[0-9]+(\.[0-9a-f]{16})?"*)\s*$'
DURATION_PATTERN = r"^\s*(?=[0-9.]*[1-9])[0-9]+(\.[0-9]+)?\s*[smhdw]?\s*$"
TOKEN_NAME_PATTERN = _whole(f"(?!({'|'.join(sorted(RESERVED_NAMES))})$){TOKEN_NAME.pattern}")

_ID = {"type": "string", "pattern": ID_PATTERN}
_FILE_ID = {"type": "string", "pattern": FILE_ID_PATTERN}
_ID_FIELDS = {
    "Asset": {"asset_id": _ID, "asset_profile_id": _ID},
    "AssetProfile": {"asset_profile_id": _ID, "asset_id": _ID},
    "AssetPolicy": {"asset_policy_id": _ID, "asset_id": _ID},
    "AssetAPI": {"asset_api_id": _ID, "asset_id": _ID},
    "AssetFile": {"asset_file_id": _FILE_ID},
}
_ID_LISTS = {"asset_policy_ids": _ID, "asset_api_ids": _ID, "asset_file_ids": _FILE_ID}
_ASSET_RULES = (
    "Every id of `asset_file_ids` has one entry in `files[]` and the other way round; no id appears twice "
    "in a list. `asset_id` of profiles, policies and APIs may be left out (it is the asset's)."
)


def model_schemas() -> dict[str, Any]:
    """``Asset`` and its parts, as OpenAPI 3.1 component schemas."""
    schema = TypeAdapter(Asset).json_schema(ref_template="#/components/schemas/{model}")
    parts: dict[str, Any] = schema.pop("$defs")
    parts["Asset"] = schema
    for name, fields in _ID_FIELDS.items():
        for field, rule in fields.items():
            parts[name]["properties"][field] = {**parts[name]["properties"][field], **rule}
    for name in ("AssetProfile", "AssetPolicy", "AssetAPI"):
        parts[name]["required"].remove("asset_id")
        parts[name]["properties"]["asset_id"] = {"anyOf": [_ID, {"type": "null"}], "default": None}
    for field, rule in _ID_LISTS.items():
        parts["Asset"]["properties"][field]["items"] = rule
    parts["Asset"]["description"] = "An asset's document (the seed's data model). " + _ASSET_RULES
    changes = {k: v for k, v in schema.items() if k != "required"}
    parts["AssetChanges"] = {
        **changes,
        "title": "AssetChanges",
        "description": "The top-level fields to change; the result is checked as a whole asset. " + _ASSET_RULES,
    }
    return parts


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), **more: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), **more}


_STR, _NUM, _BOOL = {"type": "string"}, {"type": "number"}, {"type": "boolean"}
_OPT_STR, _OPT_NUM, _OPT_INT = {"type": ["string", "null"]}, {"type": ["number", "null"]}, {"type": ["integer", "null"]}
_FREE = {"type": "object", "additionalProperties": True}
_PHASE = {"type": "string", "enum": ["Pending", "Ready", "Failed", "Terminating"]}


def answer_schemas(services: tuple[str, ...]) -> dict[str, Any]:
    """The schemas of the answers and bodies that are not assets (``services``: the webhook
    services this server has, the only names a source may give)."""
    problem = _object(
        {
            "type": _STR,
            "title": _STR,
            "status": {"type": "integer"},
            "code": {**_STR, "description": "machine-readable: what went wrong"},
            "detail": {**_STR, "description": "a sentence a person can act on"},
            "errors": {"type": "array", "items": _object({"path": _STR, "message": _STR}, ("path", "message"))},
            "backend": {**_STR, "description": "the backend that failed (503 only)"},
        },
        ("type", "title", "status", "code", "detail"),
        description="An RFC 9457 problem document.",
    )
    bucket_status = _object(
        {"phase": _PHASE, "reason": _STR, "message": _STR, "last_checked": _OPT_NUM}, ("phase", "reason", "message")
    )
    bucket = _object(
        {
            "name": _STR,
            "region": _STR,
            "policy": {"type": "string", "enum": list(POLICIES)},
            "url": _STR,
            "status": bucket_status,
        },
        ("name", "region", "policy", "status"),
    )
    source_spec = _object(
        {
            "bucket": {"type": "string", "pattern": BUCKET_PATTERN, "default": "default"},
            "url": {"type": "string", "pattern": URL_PATTERN, "maxLength": 4096, "description": "an http(s) URL"},
            "mode": {"type": "string", "enum": list(MODES), "default": "single"},
            "filter": {"type": "string", "default": "", "description": "an RE2 pattern of the member paths kept"},
            "asset": {
                **_FREE,
                "propertyNames": {"not": {"enum": ["asset_id", "files", "asset_file_ids"]}},
                "description": "fields of the asset document (not asset_id, files, asset_file_ids)",
            },
            "services": {"type": "array", "items": {"type": "string", "enum": list(services)}}
            if services
            else {"type": "array", "maxItems": 0, "description": "no webhook service is configured"},
            "parameters": {"type": ["object", "null"]},
        },
        ("url",),
        additionalProperties=False,
    )
    source_status = _object(
        {
            "phase": _PHASE,
            "reason": _STR,
            "message": _STR,
            "observed_generation": {"type": "integer"},
            "last_heartbeat": _OPT_NUM,
            "files": {"type": "array", "items": _FREE},
        },
        ("phase", "reason", "message", "observed_generation"),
    )
    source = {
        **source_spec,
        "properties": {
            **source_spec["properties"],
            "asset_id": _STR,
            "generation": {"type": "integer"},
            "status": source_status,
        },
        "required": ["asset_id", "bucket", "url", "mode", "generation", "status"],
        "additionalProperties": True,
    }
    token = _object(
        {
            "name": _STR,
            "scope": {"type": "string", "enum": ["read", "write", "admin"]},
            "buckets": {"type": "array", "items": _STR},
            "created_at": _NUM,
            "expires_at": _OPT_NUM,
            "last_used_at": _OPT_NUM,
            "revoked_at": _OPT_NUM,
        },
        ("name", "scope", "buckets", "created_at"),
    )
    return {
        "Problem": problem,
        "SearchFilter": {**_FREE, "description": "A filter in MongoDB's query language (docs/search.md)."},
        "Deleted": _object({"success": _BOOL, "asset_id": _STR}, ("success", "asset_id")),
        "UploadAccepted": _object({"success": _BOOL, "upload_id": _STR}, ("success", "upload_id")),
        "UploadStatus": _object(
            {
                "upload_id": _STR,
                "status": {**_STR, "description": "queued, processing, success or 'failed: <reason>: <why>'"},
                "reason": _STR,
                "asset_id": _STR,
                "progress": _FREE,
            },
            ("upload_id", "status", "reason"),
        ),
        "UploadForm": _object(
            {"file": {"type": "string", "contentMediaType": "application/zip", "minLength": 1, "description": "a ZIP"}},
            ("file",),
        ),
        "BucketSpec": _object(
            {
                "region": {"type": "string", "maxLength": 64},
                "policy": {"type": "string", "enum": list(POLICIES)},
            },
            additionalProperties=False,
            description="The bucket's name is in the URL (a `name` field equal to it is tolerated).",
        ),
        "Bucket": bucket,
        "SourceSpec": source_spec,
        "Source": source,
        "TokenSpec": _object(
            {
                "name": {"type": "string", "pattern": TOKEN_NAME_PATTERN},
                "scope": {"type": "string", "enum": ["read", "write", "admin"]},
                "buckets": {"type": ["array", "null"], "items": {"type": "string", "pattern": BUCKET_PATTERN}},
                "expires": {
                    "anyOf": [
                        {"type": "string", "pattern": DURATION_PATTERN},
                        {"type": "number", "exclusiveMinimum": 0},
                        {"type": "null"},
                    ],
                    "description": "'30d', '12h', '45m', '90s' or seconds",
                },
            },
            ("name", "scope"),
            additionalProperties=False,
        ),
        "Token": token,
        "TokenCreated": {
            **token,
            "properties": {**token["properties"], "token": {**_STR, "description": "shown this once"}},
            "required": [*token["required"], "token"],
        },
        "Change": _object(
            {
                "id": _STR,
                "action": _STR,
                "actor": _STR,
                "at": _NUM,
                "asset_id": _OPT_STR,
                "bucket": _OPT_STR,
                "revision_before": _OPT_INT,
                "revision_after": _OPT_INT,
                "request_id": _OPT_STR,
                "client": _OPT_STR,
                "detail": _FREE,
            },
            ("id", "action", "actor", "at"),
        ),
        "RevisionEntry": _object(
            {"n": {"type": "integer"}, "revision": {"type": "integer"}, "at": _NUM, "actor": _STR, "deleted": _BOOL},
            ("n", "at", "actor"),
        ),
        "Revision": {**_FREE, "description": "One kept version: n, revision, at, actor and the document."},
        "Health": _object({"status": _STR}, ("status",)),
        "Readiness": _object({"status": _STR, "backends": _FREE}, ("status", "backends")),
        "GraphQLRequest": _object(
            {
                "query": {"type": "string", "minLength": 1},
                "operationName": _OPT_STR,
                "variables": {"type": ["object", "null"]},
            },
            ("query",),
        ),
        "GraphQLResponse": _object({"data": {"type": ["object", "null"]}, "errors": {"type": "array"}}),
    }
