"""What commands print: a line for a person, or with ``--json`` one JSON object per line."""

from __future__ import annotations

import json
from typing import Any


def report(as_json: bool, line: str, record: dict[str, Any]) -> None:
    """A command's result on stdout: ``line`` for a person, or ``record`` as one JSON line (``--json``)."""
    print(json.dumps(record, ensure_ascii=False) if as_json else line, flush=True)
