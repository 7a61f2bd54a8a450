"""Parsing JSON from clients into values every metadata backend can store.

JSON allows more than document stores keep: integers beyond 64 bits, nesting thousands of
levels deep (which also costs stack on every walk), field names with a NUL character. Such
values are refused here, at the
door, with the path of the offending value, so that an asset stored on SQLite could also be
stored on MongoDB and no later step meets a value it cannot handle. NaN, Infinity and lone
surrogates are already refused by the parser (msgspec follows RFC 8259).
"""

from __future__ import annotations

from typing import Any, NoReturn

import msgspec

from assets_registry.core.errors import MalformedJSON

MAX_DEPTH = 64
_INT64 = (-(2**63), 2**63 - 1)


def parse_json(data: bytes) -> Any:
    """Parse a request body; raise ``MalformedJSON`` with a sentence saying what is wrong."""
    if not data.strip():
        raise MalformedJSON("The body is empty; send a JSON document.")
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise MalformedJSON(f"The body is not valid JSON: {exc}.") from None
    except UnicodeDecodeError:
        raise MalformedJSON("The body is not UTF-8 text; JSON must be encoded in UTF-8.") from None
    except RecursionError:
        raise MalformedJSON(f"The JSON nests deeper than {MAX_DEPTH} levels.") from None
    check_storable(value)
    return value


def _too_deep(path: str) -> NoReturn:
    where = path if len(path) <= 80 else path[:77] + "..."
    raise MalformedJSON(f"The JSON nests deeper than {MAX_DEPTH} levels (at {where}).")


def check_storable(value: Any) -> None:
    """Raise ``MalformedJSON`` if a parsed value nests too deep or holds a too-large integer."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= MAX_DEPTH:
                _too_deep(path)
            for key in item:
                if "\x00" in key:  # MongoDB cannot store it; refuse it on every backend alike
                    where = f"{path}.{key!r}" if path else repr(key)
                    raise MalformedJSON(f"The field name {where} contains a NUL character.")
            stack.extend((v, f"{path}.{k}" if path else str(k), depth + 1) for k, v in item.items())
        elif isinstance(item, list):
            if depth >= MAX_DEPTH:
                _too_deep(path)
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
        elif type(item) is int and not _INT64[0] <= item <= _INT64[1]:
            raise MalformedJSON(f"The number at {path or 'the top'} does not fit in 64 bits.")
