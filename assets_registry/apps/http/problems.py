"""Errors as RFC 9457 problem documents, mapped from the domain's exceptions in one place.

Every error answer is ``application/problem+json`` with ``status``, ``title``, ``detail`` (a
sentence a person can act on), ``code`` (machine-readable) and, for invalid input,
``errors`` (each with the JSON ``path`` and a ``message``). A client's mistake is never a
500; an unexpected failure is a 500 with no internals, and is logged with its traceback.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import falcon
import msgspec

from assets_registry.apps.metrics import backend_failed
from assets_registry.core import access, errors
from assets_registry.core.bundles import resumable

log = logging.getLogger("assets_registry.http")

PROBLEM_JSON = "application/problem+json"

_STATUS: tuple[tuple[type[errors.RegistryError], int], ...] = (
    (resumable.UploadGone, 410),  # tus's statuses
    (resumable.ChecksumMismatch, 460),
    (resumable.TusVersionUnsupported, 412),
    (errors.AssetExists, 400),  # the seed's contract: an existing id is a 400
    (access.Unauthenticated, 401),
    (access.Forbidden, 403),
    (errors.TooLarge, 413),
    (errors.RevisionMismatch, 412),
    (errors.InvalidInput, 400),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.BackendUnavailable, 503),
)


def problem_body(status: int, code: str, detail: str, **extra: Any) -> bytes:
    body = {
        "type": f"urn:assets-registry:problem:{code}",
        "title": _PHRASES.get(status) or HTTPStatus(status).phrase,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }
    return msgspec.json.encode(body)


_PHRASES = {460: "Checksum Mismatch"}
"""Statuses outside the HTTP registry that a protocol of ours names (tus)."""


def send_problem(resp: falcon.Response, status: int, code: str, detail: str, **extra: Any) -> None:
    resp.status = f"{status} {_PHRASES[status]}" if status in _PHRASES else status
    resp.content_type = PROBLEM_JSON
    resp.data = problem_body(status, code, detail, **extra)


def status_of(exc: errors.RegistryError) -> int:
    """The HTTP status of a domain error (500 for one the table does not name)."""
    return next((s for kind, s in _STATUS if isinstance(exc, kind)), 500)


def handle_registry_error(
    req: falcon.Request, resp: falcon.Response, exc: errors.RegistryError, params: dict[str, Any]
) -> None:
    status = status_of(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.InvalidInput) and exc.errors:
        extra["errors"] = [{"path": e.path, "message": e.message} for e in exc.errors]
    if isinstance(exc, access.Unauthenticated):
        resp.set_header("WWW-Authenticate", 'Bearer realm="assets-registry"')
    if isinstance(exc, errors.BackendUnavailable):
        backend_failed(exc.backend)
        resp.set_header("Retry-After", str(exc.retry_after))
        extra["backend"] = exc.backend
    if status == 500:
        log.error("registry error on %s %s: %s", req.method, req.path, exc.message)
    _protocol_headers(req, resp)
    send_problem(resp, status, exc.code, exc.message, **extra)


def handle_http_error(
    req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError, params: dict[str, Any]
) -> None:
    """Falcon's own errors (404 route, 405 method, bad query parameters) as problems too."""
    status = int(exc.status_code)
    code = getattr(exc, "code", None) or _falcon_code(exc)
    detail = exc.description or _falcon_detail(req, status, exc)
    for name, value in dict(exc.headers or {}).items():
        resp.set_header(name, value)
    _protocol_headers(req, resp)
    send_problem(resp, status, str(code), detail)


def _protocol_headers(req: falcon.Request, resp: falcon.Response) -> None:
    """tus answers every request under ``/uploads`` with ``Tus-Resumable``, refusals of the
    authentication middleware and the router included."""
    if req.path == "/uploads" or req.path.startswith("/uploads/"):
        resp.set_header("Tus-Resumable", "1.0.0")


def _falcon_detail(req: falcon.Request, status: int, exc: falcon.HTTPError) -> str:
    if status == 404:
        return f"No route matches {req.method} {req.path}; the README lists the routes."
    if status == 405:
        allowed = dict(exc.headers or {}).get("Allow", "")
        return f"{req.method} is not allowed on {req.path}; use one of: {allowed or 'none'}."
    return f"{HTTPStatus(status).phrase}."


def _falcon_code(exc: falcon.HTTPError) -> str:
    status = int(exc.status_code)
    return {
        404: "route_not_found",
        405: "method_not_allowed",
        413: "body_too_large",
        415: "unsupported_media_type",
    }.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_"))


def handle_unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception, params: dict[str, Any]) -> None:
    if isinstance(exc, falcon.HTTPError):
        handle_http_error(req, resp, exc, params)
        return
    log.exception("unexpected failure on %s %s", req.method, req.path)
    send_problem(resp, 500, "internal_error", "The server failed unexpectedly; the failure has been logged.")


def install(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_http_error)
    app.add_error_handler(errors.RegistryError, handle_registry_error)
