"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.bundle_env import Env, make_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """The bundle tests' system: real embedded adapters (SQLite, files) in ``tmp_path``."""
    environment = make_env(tmp_path)
    yield environment
    environment.close()
