"""Logs: text for people (the default), or one JSON object per line (``--log-format json``).

The app writes one line per request itself (``assets_registry.access``, setting ``access_log``:
method, route template, path, status, seconds, bytes, request id, client, actor), whichever
HTTP server runs it, through a queue to a thread of its own. In JSON every other record (the
app's, the server's) is JSON too, with its time, level, logger and message. Whatever the
format, an upload job's end is one line with its reason and duration
(``assets_registry.jobs``). Tokens and passwords are never in a record: headers are not
logged and backend URLs are logged through ``BackendURL`` (``***``).
"""

from __future__ import annotations

import json
import logging
import multiprocessing.util
import queue
import sys
import threading
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
        fields = {name: getattr(record, name) for name in _FIELDS if hasattr(record, name)}
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return json_line(record.created, record.levelname.lower(), record.name, record.getMessage(), fields)


def json_line(created: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
    """One log line as JSON: time (UTC, ISO 8601), level, logger, message, and its fields."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"
    line: dict[str, Any] = {"time": stamp, "level": level, "logger": logger, "message": message}
    return json.dumps(line | fields, ensure_ascii=False, default=str)


def server_logging(log_format: str) -> dict[str, Any]:
    """The HTTP server's logging configuration for the format: its loggers (granian's or
    gunicorn's) and the app's, to stderr."""
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
            "_granian": {"level": "INFO", "handlers": ["main"], "propagate": False},
            "granian.access": {"level": "INFO", "handlers": ["main"], "propagate": False},
        },
    }


_MESSAGE = "%s %s %s %.6f s %d B"  # method, path, status, seconds, bytes out
_Lines = queue.SimpleQueue[tuple[float, dict[str, Any]] | None]


_MAX_QUEUED = 100_000
"""Access lines waiting at most (tens of MiB): beyond, while stderr is stalled, lines are
dropped and counted, never the requests' memory or time."""


class _Background:
    lines: _Lines | None = None  # set once the thread writing them runs
    dropped = 0  # lines not queued since the last batch was written


_BATCH = 512


def write_access_lines_in_background(log_format: str) -> None:
    """Access lines are made and written by a thread of their own, several at a time, straight
    to stderr in the format's shape (not through ``logging``, whose records cost as much as a
    request): a request only queues its fields, and never waits on stderr (a slow terminal or
    log pipe). The server's processes call this after their fork; without it, lines go through
    ``logging`` as requests end."""
    lines: _Lines = queue.SimpleQueue()
    writer = threading.Thread(target=_write_lines, args=(lines, log_format), name="access-log", daemon=True)
    writer.start()
    _Background.lines = lines
    multiprocessing.util.Finalize(None, _stop_writing, args=(lines, writer), exitpriority=20)


def _write_lines(lines: _Lines, log_format: str) -> None:
    shape = _json_access_line if log_format == "json" else _text_access_line
    while (line := lines.get()) is not None:
        batch = [shape(*line)]
        if _Background.dropped:
            dropped, _Background.dropped = _Background.dropped, 0
            batch.append(_dropped_line(log_format, dropped))
        while len(batch) < _BATCH and not lines.empty():
            if (line := lines.get()) is None:
                lines.put(None)  # stop after this batch
                break
            batch.append(shape(*line))
        try:
            sys.stderr.write("".join(batch))
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr gone: the lines are lost, the requests are not
            pass


def _dropped_line(log_format: str, dropped: int) -> str:
    message = f"{dropped} access lines dropped: stderr did not keep up"
    if log_format == "json":
        return json_line(time.time(), "warning", ACCESS.name, message, {"dropped": dropped}) + "\n"
    return f"{time.strftime('%Y-%m-%d %H:%M:%S')} WARNING {ACCESS.name}: {message}\n"


def _text_access_line(created: float, fields: dict[str, Any]) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
    return f"{stamp},{int(created % 1 * 1000):03d} INFO {ACCESS.name}: {_MESSAGE % _arguments(fields)}\n"


def _json_access_line(created: float, fields: dict[str, Any]) -> str:
    return json_line(created, "info", ACCESS.name, _MESSAGE % _arguments(fields), fields) + "\n"


def _stop_writing(lines: _Lines, writer: threading.Thread) -> None:
    """At the process's end: the lines still queued are written."""
    lines.put(None)
    writer.join(timeout=5)


def _arguments(fields: dict[str, Any]) -> tuple[Any, ...]:
    return fields["method"], fields["path"], fields["status"], fields["seconds"], fields["bytes_out"]


class RequestLog:
    """Falcon middleware (setting ``access_log``): one access line per request, with its request
    id; timed and measured as ``metrics.RequestMetrics`` (earlier in the chain) saw it."""

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
        if _Background.lines is not None:
            if _Background.lines.qsize() < _MAX_QUEUED:
                _Background.lines.put((time.time(), fields))
            else:
                _Background.dropped += 1
        else:
            ACCESS.info(_MESSAGE, *_arguments(fields), extra=fields)


def job_ended(upload_id: str, reason: str, asset_id: str | None, seconds: float) -> None:
    """The one line an upload job's end gets, in either format."""
    fields = {"upload_id": upload_id, "reason": reason, "asset_id": asset_id, "seconds": round(seconds, 3)}
    JOBS.info("upload %s ended: %s (%.3f s)", upload_id, reason, seconds, extra=fields)
