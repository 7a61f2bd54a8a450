"""Schemathesis, an independent client that reads ``/openapi.json`` and ``/graphql``'s schema,
against a real ``assets-registry serve``: every operation, every check, a fixed seed and a
bounded number of examples (``schemathesis.toml`` beside this file says where and why a check
is told what to expect). 0 failures, or the test fails with schemathesis's report.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.served import cli_token, served_registry

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
EXAMPLES = "40"


def _schemathesis(*args: str) -> subprocess.CompletedProcess[str]:
    st = Path(sys.executable).with_name("st")
    if not st.exists():
        pytest.fail("schemathesis is not installed: pip install -e '.[test]'")
    command = [str(st), "--no-color", "run", *args, "--checks", "all", "-n", EXAMPLES]
    environment = {**os.environ, "SCHEMATHESIS_HOOKS": "hooks"}  # hooks.py beside this file
    return subprocess.run(command, check=False, cwd=HERE, env=environment, capture_output=True, text=True, timeout=600)


def _passed(run: subprocess.CompletedProcess[str]) -> None:
    report = run.stdout[-30000:] + run.stderr[-5000:]
    assert run.returncode == 0, report
    assert " passed" in run.stdout and "failures" not in run.stdout.splitlines()[-1], report


def test_every_rest_operation_passes_every_check(tmp_path: Path) -> None:
    with served_registry(tmp_path / "var") as (url,):
        _passed(_schemathesis(f"{url}/openapi.json", "--exclude-path", "/graphql"))


def test_every_graphql_field_passes_every_check(tmp_path: Path) -> None:
    with served_registry(tmp_path / "var") as (url,):
        _passed(_schemathesis(f"{url}/graphql"))


def test_with_tokens_every_operation_refuses_a_missing_token_and_serves_an_admin(tmp_path: Path) -> None:
    """``ignored_auth`` sends each request without the token too, and expects 401."""
    data = tmp_path / "var"
    settings = {"ASSETS_AUTH": "tokens"}
    token = cli_token(data, "schemathesis", "admin", settings)
    with served_registry(data, settings=settings) as (url,):
        run = _schemathesis(
            f"{url}/openapi.json",
            "--exclude-path-regex",
            "^/(graphql|tokens/.*)$",  # revoking tokens at random would revoke this run's own
            "-H",
            f"Authorization: Bearer {token}",
        )
        _passed(run)
