"""Logs: text for people (the default), or one JSON object per line (``--log-format json``).

In JSON the server writes one line per request itself (``assets_registry.access``: method,
route template, path, status, seconds, bytes, request id, client, actor) in place of
gunicorn's access log, and every other record (the app's, gunicorn's) as JSON with its time,
level, logger and message. Whatever the format, an upload job's end is one line with its
reason and duration (``assets_registry.jobs``). Tokens and passwords are never in a record:
headers are not logged and backend URLs are logged through ``BackendURL`` (``***``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import falcon

from assets_registry.apps.metrics import bytes_out, elapsed
from assets_registry.core import access

ACCESS = logging.getLogger("assets_registry.access")
JOBS = logging.getLogger("assets_registry.jobs")
_FIELDS = ("method", "route", "path", "status", "seconds", "bytes_in", "bytes_out", "request_id", "client",
           "actor", "upload_id", "reason", "asset_id")  # fmt: skip


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time (UTC, ISO 8601), level, logger, message, and its fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= {name: getattr(record, name) for name in _FIELDS if hasattr(record, name)}
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def gunicorn_logging(log_format: str) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict`` for the format (its loggers and the app's, to stderr)."""
    text = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    formatter: dict[str, Any] = {"()": JsonFormatter} if log_format == "json" else text
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "root": {"level": "INFO", "handlers": ["main"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["main"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["main"], "propagate": False},
        },
    }


class RequestLog:
    """Falcon middleware (JSON format only): one access line per request, with its request id;
    timed and measured as ``metrics.RequestMetrics`` (earlier in the chain) saw it."""

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool) -> None:
        seconds = elapsed(req)
        if seconds is None:
            return
        principal = access.current()
        fields = {
            "method": req.method,
            "route": req.uri_template or "unmatched",
            "path": req.path,
            "status": resp.status_code,
            "seconds": round(seconds, 6),
            "bytes_in": req.content_length or 0,
            "bytes_out": bytes_out(resp),
            "request_id": resp.get_header("X-Request-ID"),
            "client": req.remote_addr,
            "actor": principal.name if principal is not None else None,
        }
        ACCESS.info("%s %s %s", req.method, req.path, resp.status_code, extra=fields)


def job_ended(upload_id: str, reason: str, asset_id: str | None, seconds: float) -> None:
    """The one line an upload job's end gets, in either format."""
    fields = {"upload_id": upload_id, "reason": reason, "asset_id": asset_id, "seconds": round(seconds, 3)}
    JOBS.info("upload %s ended: %s (%.3f s)", upload_id, reason, seconds, extra=fields)
