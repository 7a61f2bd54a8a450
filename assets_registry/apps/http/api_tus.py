"""The ``/uploads/`` routes (tus 1.0, ``apps.http.resumable``) for ``/openapi.json``: their
operations, request headers and answer headers, merged into the document by ``openapi``."""

from __future__ import annotations

from typing import Any

from assets_registry.apps.http.api_operations import Operation, bare

_TUS = ("Tus-Resumable",)
_DIGITS = {"type": "string", "pattern": "^[0-9]{1,19}$"}


def tus_parameters() -> dict[str, dict[str, Any]]:
    def header(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
        return {"name": name, "in": "header", "required": required, "schema": schema, "description": description}

    return {
        "Tus-Resumable": header("Tus-Resumable", {"const": "1.0.0"}, "the tus version the client speaks", True),
        "Upload-Length": header("Upload-Length", _DIGITS, "the archive's size in bytes", True),
        "Upload-Metadata": header(
            "Upload-Metadata", {"type": "string"}, "key base64,...: filename, bucket, services (comma-separated)"
        ),
        "Upload-Offset": header("Upload-Offset", _DIGITS, "where these bytes start (HEAD's Upload-Offset)", True),
        "Upload-Checksum": header("Upload-Checksum", {"type": "string"}, "sha256|sha1|md5 <base64 digest of the body>"),
        "X-HTTP-Method-Override": header(
            "X-HTTP-Method-Override", {"enum": ["PATCH", "DELETE"]}, "the method this POST stands for", True
        ),
    }


TUS_HEADERS = {
    "Tus-Resumable": "1.0.0",
    "Upload-Offset": "the bytes the server has of the upload",
    "Upload-Length": "the upload's size",
    "Upload-Expires": "when an unfinished upload is dropped (RFC 9110 date)",
    "Upload-Metadata": "the metadata given at creation",
}

_PROGRESS = ("Tus-Resumable", "Upload-Offset", "Upload-Expires", "Link")
_STREAM = {
    "application/offset+octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}
}

TUS_OPERATIONS: dict[tuple[str, str], Operation] = {
    ("/uploads", "POST"): Operation(
        "Create a resumable upload (tus 1.0: creation, creation-with-upload)",
        "bundles",
        {201: bare("Created; PATCH the bytes to Location", "Location", *_PROGRESS)},
        headers=("Tus-Resumable", "Upload-Length", "Upload-Metadata", "Upload-Checksum"),
        body={"required": False, "content": _STREAM},
        problems=(404, 409, 412, 413),
        description="The last byte in queues the same job as POST /zip/upload, under the upload's id "
        '(GET /zip/status/{upload_id}, linked with rel="status").',
    ),
    ("/uploads/{upload_id}", "HEAD"): Operation(
        "How far a resumable upload got",
        "bundles",
        {200: bare("Its offset and length", *_PROGRESS, "Upload-Length", "Upload-Metadata")},
        headers=_TUS,
        problems=(404, 410, 412),
    ),
    ("/uploads/{upload_id}", "PATCH"): Operation(
        "Append to a resumable upload from Upload-Offset (what arrives of a broken request is kept)",
        "bundles",
        {204: bare("Stored", *_PROGRESS)},
        headers=("Tus-Resumable", "Upload-Offset", "Upload-Checksum"),
        body={"required": True, "content": _STREAM},
        problems=(404, 409, 410, 412, 413, 415, 460),
    ),
    ("/uploads/{upload_id}", "POST"): Operation(
        "PATCH or DELETE, for clients that can send only POST (X-HTTP-Method-Override)",
        "bundles",
        {204: bare("As PATCH or DELETE", *_PROGRESS)},
        headers=("Tus-Resumable", "X-HTTP-Method-Override", "Upload-Offset", "Upload-Checksum"),
        body={"required": False, "content": _STREAM},
        problems=(404, 409, 410, 412, 413, 415, 460),
    ),
    ("/uploads/{upload_id}", "DELETE"): Operation(
        "Drop an unfinished resumable upload (tus termination)",
        "bundles",
        {204: bare("Deleted", "Tus-Resumable")},
        headers=_TUS,
        problems=(404, 409, 410, 412),
    ),
}
