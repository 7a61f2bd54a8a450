"""One webhook service's HTTP exchange: a multipart POST, retried on transport faults, in bounded time.

Transport errors (refused connection, reset, timeout) and the answers 429/502/503/504 are
tried again, ``retries`` times with a growing pause; any other answer is handed to the
service to judge. The endpoint is shown with its secrets hidden in every message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import httpx

from assets_registry.adapters.webhooks.body import Deadline, FileBody, Overdue
from assets_registry.adapters.webhooks.config import ServiceConfig
from assets_registry.core.ports import FileContent
from assets_registry.plugins.types import BackendURL

log = logging.getLogger("assets_registry.webhooks")

RETRIED = frozenset({429, 502, 503, 504})
MESSAGE_BYTES = 4096
"""The most of an answer's body read for a message (a refusal's, an error's)."""
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


class Unreachable(Exception):
    """The service could not be asked: every try failed in transport or ran out of time."""


@dataclass(frozen=True)
class Part:
    """One file part of a request: the form field's name, the file name sent, the file."""

    field: str
    filename: str
    file: FileContent


class Answer:
    """The service's answer, read within the request's deadline; a read that fails is ``Unreachable``."""

    def __init__(self, response: httpx.Response, deadline: Deadline, shown: str) -> None:
        self.response = response
        self.status = response.status_code
        self.deadline = deadline
        self.shown = shown

    def chunks(self) -> Iterator[bytes]:
        try:
            for chunk in self.response.iter_bytes():
                self.deadline.left()
                yield chunk
        except (httpx.TransportError, httpx.DecodingError, httpx.StreamError, Overdue) as exc:
            raise Unreachable(f"its answer could not be read from {self.shown}: {_fault(exc)}") from exc

    def read(self, limit: int) -> bytes | None:
        """The body, or None if it is longer than ``limit`` bytes."""
        got: list[bytes] = []
        size = 0
        for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                return None
            got.append(chunk)
        return b"".join(got)

    def message(self) -> str:
        """The body as one printable line (cut short), for a refusal or an error."""
        body = b""
        for chunk in self.chunks():
            body += chunk
            if len(body) >= MESSAGE_BYTES:
                break
        text = _UNPRINTABLE.sub(" ", body[:MESSAGE_BYTES].decode("utf-8", "replace")).strip()
        return (text[:300] + "…") if len(text) > 300 else text


class WebhookClient:
    """The connection pool of one service (one per process: built where it is used)."""

    def __init__(self, config: ServiceConfig, pause: float = 0.5) -> None:
        self.config = config
        self.pause = pause
        self.shown = str(BackendURL(config.endpoint))
        self._http = httpx.Client(follow_redirects=False, headers={"User-Agent": "assets-registry-webhooks"})

    @contextlib.contextmanager
    def post(self, parts: Sequence[Part], with_parameters: bool) -> Iterator[Answer]:
        """The answer to one multipart POST of ``parts`` (and the ``parameters`` field);
        ``Unreachable`` when no try got one, or when reading it fails."""
        parameters = json.dumps(self.config.parameters) if self.config.parameters is not None else ""
        last = ""
        for attempt in range(self.config.retries + 1):
            if attempt:  # at most half a timeout: a job's lease allows for it (settings)
                time.sleep(min(self.pause * 2 ** (attempt - 1), 5.0, self.config.timeout / 2))
            deadline = Deadline(self.config.timeout)
            bodies = [FileBody(part.file, deadline) for part in parts]
            files = [
                (part.field, (part.filename, body, "application/octet-stream"))
                for part, body in zip(parts, bodies, strict=True)
            ]
            try:
                request = self._http.build_request(
                    "POST",
                    self.config.endpoint,
                    files=files,  # type: ignore[arg-type]  # a FileBody is a binary file object
                    data={"parameters": parameters} if with_parameters else None,
                    timeout=httpx.Timeout(self.config.timeout),
                )
                response = self._http.send(request, stream=True)
            except (httpx.TransportError, Overdue) as exc:
                last = _fault(exc)
                log.warning("service %s (%s), try %d: %s", self.config.name, self.shown, attempt + 1, last)
                continue
            finally:
                for body in bodies:
                    body.close()
            if response.status_code in RETRIED and attempt < self.config.retries:
                last = f"it answered HTTP {response.status_code}"
                log.warning("service %s (%s), try %d: %s", self.config.name, self.shown, attempt + 1, last)
                response.close()
                continue
            try:
                yield Answer(response, deadline, self.shown)
            finally:
                response.close()
            return
        tries = self.config.retries + 1
        raise Unreachable(f"it could not be reached at {self.shown} ({tries} tries; last: {last})")

    def close(self) -> None:
        self._http.close()


def _fault(exc: Exception) -> str:
    if isinstance(exc, Overdue):
        return str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
