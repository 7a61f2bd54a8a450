"""What commands print: a line for a person, or with ``--json`` one JSON object per line; and
the exit statuses they end with."""

from __future__ import annotations

import json
from typing import Any

REFUSED, USAGE, UNREACHABLE, SERVER_FAILED = 1, 2, 3, 4
"""Exit statuses of the client commands: the server (or a check here) refused; a usage or settings
mistake; the server could not be reached (or the connection broke); the server failed (5xx)."""


def report(as_json: bool, line: str, record: dict[str, Any]) -> None:
    """A command's result on stdout: ``line`` for a person, or ``record`` as one JSON line (``--json``)."""
    print(json.dumps(record, ensure_ascii=False) if as_json else line, flush=True)
