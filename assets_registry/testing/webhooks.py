"""A reference webhook service speaking Rafter's contract, for tests and for trying services out.

``ReferenceWebhooks().serve()`` runs it on a free loopback port (a thread) and yields its base
URL; ``python -m assets_registry.testing.webhooks --port 9000`` runs it in the foreground.

- ``POST /v1/validate``: refuses (422) a file containing any of ``parameters.forbidden``
  (a list of strings), else 200.
- ``POST /v1/mutate``: replaces ``parameters.find`` by ``parameters.replace`` (200 with the new
  file), 304 when the file does not contain it, 422 when it contains ``parameters.refuse``.
- ``POST /v1/metadata``: for each part, ``{"bytes", "sha256", "lines"}``; a file whose id
  matches the query's ``fail`` pattern is reported in ``errors``.

Any endpoint also takes ``?status=503&times=2`` (answer that status the first times
requests arrive), ``?delay=1.5`` (sleep before answering) and, with ``status``, ``?stall=2``
(send the answer's headers and half its body, then wait that long before the rest). Files are read and written in
chunks, never whole; ``calls`` records what each request carried.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any, BinaryIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import falcon
from falcon.media.multipart import MultipartForm

CHUNK = 64 << 10


@dataclass
class Call:
    """One request the service got: its route, its form fields, and its files (name, size)."""

    route: str
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    status: int = 0


class ReferenceWebhooks:
    """The service's state: what it was asked, and the faults it is told to show."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self.app = falcon.App()
        self.app.add_route("/v1/validate", _Route(self, self._validate))
        self.app.add_route("/v1/mutate", _Route(self, self._mutate))
        self.app.add_route("/v1/metadata", _Route(self, self._metadata))

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on ``host:port`` (0: a free port) in a thread; yield ``http://host:port``."""
        server = make_server(host, port, self.app, server_class=_Threading, handler_class=_Quiet)
        thread = threading.Thread(target=server.serve_forever, name="reference-webhooks", daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()

    def faulted(self, req: falcon.Request) -> int | None:
        """The status the query asks for instead of the real answer, if any (after ``delay``)."""
        delay = req.get_param_as_float("delay")
        if delay:
            time.sleep(delay)
        status = req.get_param_as_int("status")
        if status is None:
            return None
        times = req.get_param_as_int("times")
        key = req.relative_uri
        with self._lock:
            self._seen[key] = self._seen.get(key, 0) + 1
            return status if times is None or self._seen[key] <= times else None

    # -- the three services -------------------------------------------------------------

    def _validate(self, call: Call, form: MultipartForm, resp: falcon.Response, req: falcon.Request) -> None:
        parameters: dict[str, Any] = {}
        found: list[str] = []
        for part in form:
            if part.name == "parameters":
                parameters = _parameters(call, part.text)
            elif part.name == "content":
                forbidden = [str(f).encode() for f in parameters.get("forbidden", [])]
                size, hits = _scan(part.stream, forbidden)
                call.files[part.name] = (part.filename or "", size)
                found += [f.decode() for f in hits]
        if found:
            resp.status, resp.text = 422, f"contains the forbidden text {', '.join(map(repr, found))}"
        else:
            resp.status = 200

    def _mutate(self, call: Call, form: MultipartForm, resp: falcon.Response, req: falcon.Request) -> None:
        parameters: dict[str, Any] = {}
        for part in form:
            if part.name == "parameters":
                parameters = _parameters(call, part.text)
            elif part.name == "content":
                find = str(parameters.get("find", "")).encode()
                refuse = str(parameters.get("refuse", "")).encode()
                output = tempfile.TemporaryFile()  # noqa: SIM115  (handed to the response, which closes it)
                size, replaced, refused = _replace(
                    part.stream, output, find, str(parameters.get("replace", "")).encode(), refuse
                )
                call.files[part.name] = (part.filename or "", size)
                if refused:
                    output.close()
                    resp.status, resp.text = 422, f"contains {refuse.decode()!r}, which this service refuses"
                elif not replaced:
                    output.close()
                    resp.status = 304
                else:
                    resp.status = 200
                    resp.content_type = "application/octet-stream"
                    resp.set_stream(output, output.tell())
                    output.seek(0)

    def _metadata(self, call: Call, form: MultipartForm, resp: falcon.Response, req: falcon.Request) -> None:
        fail = req.get_param("fail")
        data: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        for part in form:
            path = str(part.name)
            digest = hashlib.sha256()
            size = lines = 0
            while chunk := part.stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
            call.files[path] = (part.filename or "", size)
            if fail and re.search(fail, path):
                errors.append({"filePath": path, "message": "the reference service was told to fail on it"})
            else:
                metadata = {"bytes": size, "sha256": digest.hexdigest(), "lines": lines}
                data.append({"filePath": path, "metadata": metadata})
        resp.status = 200
        resp.media = {"data": data, "errors": errors}


class _Route:
    def __init__(self, service: ReferenceWebhooks, handle: Any) -> None:
        self.service = service
        self.handle = handle

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        call = Call(route=req.path)
        with self.service._lock:
            self.service.calls.append(call)
        faulted = self.service.faulted(req)
        if faulted is not None:
            req.bounded_stream.exhaust()
            text = f"the reference service was told to answer {faulted}".encode()
            resp.status = faulted
            stall = req.get_param_as_float("stall")
            if stall:
                resp.stream, resp.content_length = _stalled(text, stall), len(text)
            else:
                resp.data = text
        else:
            form = req.get_media()
            if not isinstance(form, MultipartForm):
                raise falcon.HTTPBadRequest(description="send multipart/form-data")
            self.handle(call, form, resp, req)
        call.status = int(resp.status) if isinstance(resp.status, int) else int(str(resp.status).split()[0])


def _stalled(text: bytes, seconds: float) -> Iterator[bytes]:
    yield text[: len(text) // 2]
    time.sleep(seconds)
    yield text[len(text) // 2 :]


def _parameters(call: Call, text: str) -> dict[str, Any]:
    call.fields["parameters"] = text
    if not text:
        return {}
    parsed = json.loads(text)
    if not isinstance(parsed, dict):
        raise falcon.HTTPBadRequest(description="parameters must be a JSON object")
    return parsed


def _scan(stream: Any, needles: list[bytes]) -> tuple[int, list[bytes]]:
    """The stream's size and which needles it holds, read in chunks (with an overlap)."""
    keep = max((len(n) for n in needles), default=1) - 1
    tail = b""
    size = 0
    hits: set[bytes] = set()
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        window = tail + chunk
        hits |= {n for n in needles if n and n in window}
        tail = window[-keep:] if keep else b""
    return size, [n for n in needles if n in hits]


def _replace(stream: Any, output: BinaryIO, find: bytes, replace: bytes, refuse: bytes) -> tuple[int, bool, bool]:
    """Copy the stream to ``output`` with ``find`` replaced; its size, whether it changed, and
    whether it holds ``refuse``. The last ``len(find) - 1`` bytes wait for the next chunk, the
    only place a match across chunks can start."""
    size = 0
    pending = b""
    replaced = False
    refused_tail, refused = b"", False
    keep = max(len(find) - 1, 0)
    while chunk := stream.read(CHUNK):
        size += len(chunk)
        if refuse:
            window = refused_tail + chunk
            refused |= refuse in window
            refused_tail = window[-(len(refuse) - 1) :] if len(refuse) > 1 else b""
        if not find:
            output.write(chunk)
            continue
        buffer, at = pending + chunk, 0
        while (hit := buffer.find(find, at)) != -1:
            output.write(buffer[at:hit] + replace)
            at, replaced = hit + len(find), True
        rest = buffer[at:]
        safe = len(rest) - keep
        if safe > 0:
            output.write(rest[:safe])
        pending = rest[max(safe, 0) :]
    output.write(pending)
    return size, replaced, refused


class _Threading(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)
    with ReferenceWebhooks().serve(args.host, args.port) as url:
        print(f"reference webhook service on {url}: /v1/validate, /v1/mutate, /v1/metadata", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
