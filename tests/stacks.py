"""Which backends a test's services run on, and how its upload jobs get done.

On the embedded default a test runs jobs itself (``run_next``), so it controls the timing.
On the real stack, separate ``assets-registry worker`` processes run them, and the test
waits for them: ``run_jobs`` hides the difference.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from assets_registry.apps.container import Services

EMBEDDED = "embedded"
REAL_STACK = "mongodb+s3+redis"
STACKS = (EMBEDDED, pytest.param(REAL_STACK, id=REAL_STACK, marks=pytest.mark.real_servers))
"""The ``params`` of a fixture run on each stack; the real one is marked (``-m "not real_servers"`` skips it)."""


@dataclass(frozen=True)
class ExternalStack:
    wait_for_jobs: Callable[[], None]
    stored_keys: Callable[[str], list[str]]


_stacks: weakref.WeakKeyDictionary[Services, ExternalStack] = weakref.WeakKeyDictionary()


def use_external_stack(services: Services, stack: ExternalStack) -> None:
    _stacks[services] = stack


def run_jobs(services: Services) -> None:
    """Bring every queued upload job to its end."""
    stack = _stacks.get(services)
    if stack is not None:
        stack.wait_for_jobs()
        return
    while services.bundles.run_next("test-worker") is not None:
        pass


def stored_keys(services: Services, prefix: str) -> list[str]:
    """Keys of the blobs stored under ``prefix`` (a test's look inside the blob store)."""
    stack = _stacks.get(services)
    if stack is not None:
        return stack.stored_keys(prefix)
    root: Path = services.blobs.root  # type: ignore[attr-defined]
    return sorted(str(p.relative_to(root)) for p in root.glob(f"{prefix}**/*") if p.is_file())


def stack_settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment for a served process on the stack ``request.param`` names (reset, workers running)."""
    if request.param == "embedded":
        return {}
    stack = request.getfixturevalue("real_stack")
    stack.reset()
    return {**stack.environment, "ASSETS_JOB_THREADS": "0"}
