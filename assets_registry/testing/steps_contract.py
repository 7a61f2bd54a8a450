"""The contracts a plugin's validator, mutator and metadata extractor pass, as the registry holds them.

Subclass ``ValidatorContract`` (``FileValidatorContract`` for one with ``validate_file``),
``MutatorContract`` or ``ExtractorContract`` in a ``Test*`` class and override its fixtures:
the object under test and ``sample_file`` (a file id and bytes it is meant for). Each test
runs the object through the registry's own guard (``assets_registry.plugins.guards``), so a
wrong answer fails here with the sentence an operator would read, not later in a job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from assets_registry.core.errors import FieldError
from assets_registry.core.model import Asset, asset_from_document
from assets_registry.plugins.guards import GuardedExtractor, GuardedMutator, GuardedValidator
from assets_registry.testing.documents import asset_document

PLUGIN = "plugin-under-test"


class BytesContent:
    """A ``FileContent`` over bytes that counts what was read (tests of steps)."""

    def __init__(self, path: str, data: bytes) -> None:
        self.path = path
        self.data = data
        self.size = len(data)
        self.bytes_read = 0

    def read(self, start: int, length: int) -> bytes:
        piece = self.data[start : start + max(length, 0)]
        self.bytes_read += len(piece)
        return piece

    def chunks(self) -> Iterator[bytes]:
        for start in range(0, self.size, 1 << 16):
            yield self.read(start, 1 << 16)


def odd_files(path: str) -> list[BytesContent]:
    """Files a step must survive without raising: empty, one byte, noise, a truncated header."""
    noise = hashlib.sha256(b"noise").digest() * 64
    return [BytesContent(path, data) for data in (b"", b"\x00", noise, b"---\n" + noise[:100], b"\xff" * 9)]


class _Sample:
    @pytest.fixture
    def sample_file(self) -> tuple[str, bytes]:
        raise NotImplementedError("override sample_file: (file id, bytes) this step is meant for")


class ValidatorContract:
    @pytest.fixture
    def validator(self) -> Any:
        raise NotImplementedError("override validator with the object your validators hook returns")

    @pytest.fixture
    def valid_asset(self) -> Asset:
        """An asset the validator accepts; override it if the default document is not one."""
        return asset_from_document(asset_document("contract-1"))

    def test_it_has_a_name_and_accepts_a_valid_asset(self, validator: Any, valid_asset: Asset) -> None:
        name = getattr(validator, "name", None)
        assert isinstance(name, str) and name, "a validator needs a name: its refusals and faults are reported with it"
        assert GuardedValidator(PLUGIN, validator).validate(valid_asset) == []

    def test_its_problems_are_field_errors(self, validator: Any, valid_asset: Asset) -> None:
        problems = GuardedValidator(PLUGIN, validator).validate(valid_asset)
        assert all(isinstance(problem, FieldError) for problem in problems)


class FileValidatorContract(ValidatorContract, _Sample):
    """For a validator that also reads file bytes (``validate_file``)."""

    def test_it_answers_about_files_with_a_list_of_messages(
        self, validator: Any, sample_file: tuple[str, bytes]
    ) -> None:
        guarded = GuardedValidator(PLUGIN, validator)
        assert guarded.checks_files, "it has no validate_file(file) method"
        path, data = sample_file
        assert guarded.matches(path), f"its paths pattern does not match the sample file {path}"
        for file in [BytesContent(path, data), *odd_files(path)]:
            refusals = guarded.validate_file(file)
            assert all(isinstance(message, str) and message for message in refusals)


class MutatorContract(_Sample):
    @pytest.fixture
    def mutator(self) -> Any:
        raise NotImplementedError("override mutator with the object your mutators hook returns")

    def test_it_matches_its_sample_and_answers_chunks_of_bytes_or_none(
        self, mutator: Any, sample_file: tuple[str, bytes]
    ) -> None:
        guarded = GuardedMutator(PLUGIN, mutator)
        path, data = sample_file
        assert guarded.matches(path), f"its paths pattern does not match the sample file {path}"
        replacement = guarded.mutate(BytesContent(path, data))
        if replacement is not None:
            assert isinstance(b"".join(replacement), bytes)

    def test_it_survives_odd_files(self, mutator: Any, sample_file: tuple[str, bytes]) -> None:
        guarded = GuardedMutator(PLUGIN, mutator)
        for file in odd_files(sample_file[0]):
            replacement = guarded.mutate(file)
            if replacement is not None:
                b"".join(replacement)

    def test_it_is_a_function_of_the_bytes(self, mutator: Any, sample_file: tuple[str, bytes]) -> None:
        """A re-run after a crash mutates the same file again: it must make the same bytes."""
        guarded = GuardedMutator(PLUGIN, mutator)
        path, data = sample_file
        made = [guarded.mutate(BytesContent(path, data)) for _ in range(2)]
        first, second = (None if chunks is None else b"".join(chunks) for chunks in made)
        assert first == second


class ExtractorContract(_Sample):
    @pytest.fixture
    def extractor(self) -> Any:
        raise NotImplementedError("override extractor with the object your extractors hook returns")

    def test_it_describes_its_sample_with_a_storable_json_object(
        self, extractor: Any, sample_file: tuple[str, bytes]
    ) -> None:
        guarded = GuardedExtractor(PLUGIN, extractor)
        path, data = sample_file
        assert guarded.matches(path), f"its paths pattern does not match the sample file {path}"
        found = guarded.extract(BytesContent(path, data))
        assert isinstance(found, dict) and found, "it found nothing in its own sample file"

    def test_it_survives_odd_files(self, extractor: Any, sample_file: tuple[str, bytes]) -> None:
        guarded = GuardedExtractor(PLUGIN, extractor)
        for file in odd_files(sample_file[0]):
            found = guarded.extract(file)
            assert found is None or isinstance(found, dict)

    def test_it_reads_headers_not_whole_files(self, extractor: Any, sample_file: tuple[str, bytes]) -> None:
        """The sample followed by 64 MiB it has no reason to read: it must not read them."""
        path, data = sample_file
        big = _Padded(path, data, 64 << 20)
        GuardedExtractor(PLUGIN, extractor).extract(big)
        assert big.bytes_read <= len(data) + (16 << 20), f"it read {big.bytes_read} bytes of a {big.size}-byte file"


class _Padded(BytesContent):
    """The sample's bytes, then zeros up to ``size``, made only where they are read."""

    def __init__(self, path: str, data: bytes, padding: int) -> None:
        super().__init__(path, data)
        self.size = len(data) + padding

    def read(self, start: int, length: int) -> bytes:
        end = min(start + max(length, 0), self.size)
        head = self.data[start:end]
        piece = head + bytes(max(0, end - max(start, len(self.data))))
        self.bytes_read += len(piece)
        return piece
