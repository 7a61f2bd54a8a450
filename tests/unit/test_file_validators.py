"""Validators that read file bytes (``validate_file``): every refusal reported, faults named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assets_registry.core.errors import FieldError
from assets_registry.core.model import Asset
from assets_registry.core.ports import FileContent
from assets_registry.testing import bundle_zip
from tests.stacks import stored_keys
from tests.unit.test_plugin_faults import embedded_with, validators_plugin


class NoTabs:
    """Refuses text files holding a tab, reading each in one stream."""

    name = "no_tabs"
    paths = r"\.txt$"

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def validate(self, asset: Asset) -> list[FieldError]:
        return []

    def validate_file(self, file: FileContent) -> Any:
        self.asked.append(file.path)
        if self.answer is not None:
            return self.answer
        lines = b"".join(file.chunks()).count(b"\t")
        head = file.read(0, 4)
        return [f"holds {lines} tab(s) (starts {head!r})"] if lines else []


def run(tmp_path: Path, validator: object, files: dict[str, bytes]) -> tuple[str, Any]:
    with embedded_with(tmp_path, "acme-files", validators_plugin(validator)) as services:
        job = services.bundles.stage([bundle_zip("zip-1", files)])
        services.bundles.run_next("w")
        return services.bundles.status(job.upload_id).status, stored_keys(services, "assets/")


def test_a_file_validator_reads_the_files_its_paths_match_and_reports_every_refusal(tmp_path: Path) -> None:
    validator = NoTabs()
    status, left = run(tmp_path, validator, {"a.txt": b"x\ty", "b.txt": b"\t\t", "ok.txt": b"fine", "m.bin": b"\t"})
    assert status == (
        "failed: validation_failed: no_tabs: a.txt: holds 1 tab(s) (starts b'x\\ty'); "
        "no_tabs: b.txt: holds 2 tab(s) (starts b'\\t\\t')"
    )
    assert sorted(validator.asked) == ["a.txt", "b.txt", "ok.txt"], "paths (RE2) chose the files"
    assert left == []


def test_files_a_file_validator_accepts_are_registered(tmp_path: Path) -> None:
    status, left = run(tmp_path, NoTabs(), {"a.txt": b"no tabs here"})
    assert status == "success" and len(left) == 1


@pytest.mark.parametrize(
    ("answer", "said"),
    [("a string", "returned str 'a string' for a.txt, not a list of messages"), ([1], "returned a list")],
)
def test_a_file_validator_answering_the_wrong_shape_fails_the_job_naming_the_plugin(
    tmp_path: Path, answer: Any, said: str
) -> None:
    status, left = run(tmp_path, NoTabs(answer), {"a.txt": b"x"})
    assert status.startswith("failed: plugin_failed: acme-files: its validator no_tabs ") and said in status, status
    assert left == []


def test_a_raising_file_validator_fails_the_job_naming_the_plugin(tmp_path: Path) -> None:
    class Raising(NoTabs):
        def validate_file(self, file: FileContent) -> Any:
            raise OSError("disk on fire")

    status, _left = run(tmp_path, Raising(), {"a.txt": b"x"})
    assert status == "failed: plugin_failed: acme-files: its validator no_tabs raised OSError('disk on fire') on a.txt"
