"""Reading request bodies and list parameters; writing JSON answers and page headers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import falcon
import msgspec

from assets_registry.core.errors import InvalidInput, RegistryError, TooLarge
from assets_registry.core.json_values import parse_json
from assets_registry.core.pagination import decode_cursor, encode_cursor
from assets_registry.core.ports import Page

NEXT_CURSOR_HEADER = "X-Next-Cursor"


class BodyTooLarge(TooLarge):
    code = "body_too_large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"The body is larger than {max_bytes} bytes, the most this server accepts.")


class IncompleteBody(InvalidInput):
    """The body ended before the length its request announced: the client went away or lied."""

    code = "incomplete_body"


class UnreadableBody(InvalidInput):
    """The WSGI server could not read the body (a broken chunked encoding, a cut connection)."""

    code = "unreadable_body"


class ClientBody:
    """The request body as a stream that reports the client's faults as the client's.

    A body cut short, or a chunked encoding the server cannot decode, surfaces inside
    ``read`` as whatever the WSGI server raises (gunicorn: ``NoMoreData``,
    ``InvalidChunkSize``, ``ChunkMissingTerminator``); here it becomes a 400 with a code.
    The end of the stream is checked against ``Content-Length``: a shorter body is refused,
    so nothing half-sent is ever taken (an upload is never queued from it).
    """

    def __init__(self, stream: Any, declared: int | None) -> None:
        self._stream = stream
        self._declared = declared
        self.received = 0

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._stream.read(size)
        except RegistryError:
            raise
        except Exception as exc:  # the server's reader: every failure here is the body's
            raise UnreadableBody(
                f"The request body could not be read to its end ({type(exc).__name__}): a broken chunked "
                "encoding or a connection cut short. Send the request again."
            ) from None
        self.received += len(data)
        if not data and size != 0 and self._declared is not None and self.received < self._declared:
            raise IncompleteBody(
                f"The body ended after {self.received} of the {self._declared} bytes its Content-Length "
                "announced; send the whole body."
            )
        return data


def media_type(req: falcon.Request) -> str:
    """The request's media type, lower case, without parameters (``""`` if none was sent)."""
    return falcon.parse_header(req.content_type)[0].lower() if req.content_type else ""


def read_json(req: falcon.Request, max_bytes: int) -> Any:
    """The parsed JSON body: 415 if it is not JSON, 413 if too large, 400 if malformed.

    At most ``max_bytes + 1`` bytes are read, whatever the request declares, so one check
    of what arrived covers a lying ``Content-Length`` and a chunked body alike; a declared
    length past the limit is refused before reading.
    """
    media = media_type(req)
    if media != "application/json" and not media.endswith("+json"):
        raise falcon.HTTPUnsupportedMediaType(
            description=f"Send the body as JSON with 'Content-Type: application/json' (got {media or 'none'!r})."
        )
    declared = req.content_length or 0
    if declared > max_bytes:
        raise BodyTooLarge(max_bytes)
    stream, data = body_stream(req), b""
    while len(data) <= max_bytes and (chunk := stream.read(max_bytes + 1 - len(data))):
        data += chunk
    if len(data) > max_bytes:
        raise BodyTooLarge(max_bytes)
    return parse_json(data)


def body_stream(req: falcon.Request) -> ClientBody:
    """The request body as a ``ClientBody``, also for chunked requests (no Content-Length).

    Falcon's ``bounded_stream`` reads nothing without a length; a server that de-chunks the
    body (gunicorn does) says so with ``wsgi.input_terminated``, and then the raw stream ends
    where the body ends.
    """
    if req.content_length is None and req.env.get("wsgi.input_terminated"):
        return ClientBody(req.stream, None)
    return ClientBody(req.bounded_stream, req.content_length)


def send_json(resp: falcon.Response, value: Any, status: int = 200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = msgspec.json.encode(value)


def etag_matches(header: str | None, tag: str) -> bool:
    """``If-None-Match`` names ``tag`` (weakly compared, as RFC 9110 says for it), or is ``*``."""
    if not header:
        return False
    named = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in named or tag in named


def page_params(req: falcon.Request) -> tuple[int | None, str | None]:
    """``limit`` and ``cursor`` from the query string (400 on a limit not written as digits)."""
    raw = req.get_param("limit")
    limit = None
    if raw:  # ?limit= is the same as leaving it out
        if not (raw.isascii() and raw.isdigit()):
            raise InvalidInput(f"limit must be a whole number such as 50; got {raw!r}.")
        limit = int(raw)
    return limit, decode_cursor(req.get_param("cursor"))


def send_page(req: falcon.Request, resp: falcon.Response, page: Page) -> None:
    """A JSON array (what seed clients expect), with the next page's cursor in headers."""
    if page.next_after is not None:
        cursor = encode_cursor(page.next_after)
        resp.set_header(NEXT_CURSOR_HEADER, cursor)
        params = {k: v for k, v in req.params.items() if k != "cursor"}
        params["cursor"] = cursor
        resp.append_link(f"{req.path}?{urlencode(params, doseq=True)}", "next")
    send_json(resp, page.documents)
