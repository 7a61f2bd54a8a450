"""Reading request bodies and list parameters; writing JSON answers and page headers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import falcon
import msgspec

from assets_registry.core.errors import InvalidInput
from assets_registry.core.json_values import parse_json
from assets_registry.core.pagination import decode_cursor, encode_cursor
from assets_registry.core.ports import Page

NEXT_CURSOR_HEADER = "X-Next-Cursor"


class UnsupportedMediaType(InvalidInput):
    code = "unsupported_media_type"


class BodyTooLarge(InvalidInput):
    code = "body_too_large"


def read_json(req: falcon.Request, max_bytes: int) -> Any:
    """The parsed JSON body: 415 if it is not JSON, 413 if too large, 400 if malformed."""
    media = (req.content_type or "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise falcon.HTTPUnsupportedMediaType(
            description=f"Send the body as JSON with 'Content-Type: application/json' (got {media or 'none'!r})."
        )
    if req.content_length is not None and req.content_length > max_bytes:
        raise _too_large(max_bytes)
    data = body_stream(req).read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    return parse_json(data)


def body_stream(req: falcon.Request) -> Any:
    """The request body as a stream, also for chunked requests (no Content-Length).

    Falcon's ``bounded_stream`` reads nothing without a length; a server that de-chunks the
    body (gunicorn does) says so with ``wsgi.input_terminated``, and then the raw stream ends
    where the body ends.
    """
    if req.content_length is None and req.env.get("wsgi.input_terminated"):
        return req.stream
    return req.bounded_stream


def _too_large(max_bytes: int) -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(
        description=f"The body is larger than {max_bytes} bytes, the most this server accepts."
    )


def send_json(resp: falcon.Response, value: Any, status: int = 200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = msgspec.json.encode(value)


def page_params(req: falcon.Request) -> tuple[int | None, str | None]:
    """``limit`` and ``cursor`` from the query string (400 on a non-integer limit)."""
    raw = req.get_param("limit")
    limit = None
    if raw is not None:
        try:
            limit = int(raw)
        except ValueError:
            raise InvalidInput(f"limit must be a whole number; got {raw!r}.") from None
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
