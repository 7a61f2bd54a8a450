"""The three kinds of webhook service, as ingest steps (``core.bundles.steps``).

Rafter's contract: validation and mutation get one request per file (part ``content``,
field ``parameters``) and answer ``200`` (accepted; mutation: the body is the new file),
``304`` (unchanged), ``422`` (refused: the body says why), anything else an error.
Metadata gets one request with a part per file, named by its id, and answers
``200 {"data": [{"filePath", "metadata"}], "errors": [{"filePath", "message"}]}``.

A refusal is ``<kind>_failed``; a service that cannot answer is ``<kind>_error``
(metadata: ``metadata_extraction_failed`` for both, as in the Asset Store).
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
import re2

from assets_registry.adapters.webhooks.client import Answer, Part, Unreachable, WebhookClient
from assets_registry.adapters.webhooks.config import ServiceConfig
from assets_registry.core.errors import InvalidInput, StepRefused
from assets_registry.core.json_values import check_storable
from assets_registry.core.ports import FileContent

MAX_METADATA_ANSWER = 16 << 20


class _Service:
    def __init__(self, config: ServiceConfig, client: WebhookClient | None = None) -> None:
        self.config = config
        self.name = config.name
        self.kind = config.kind
        self.always = config.always
        self._filter = re2.compile(config.filter) if config.filter else None
        self.client = client or WebhookClient(config)

    def matches(self, path: str) -> bool:
        return self._filter is None or self._filter.search(path) is not None

    def _one_file(self, file: FileContent) -> list[Part]:
        return [Part("content", posixpath.basename(file.path) or file.path, file)]

    def _unexpected(self, code: str, path: str, answer: Answer) -> StepRefused:
        said = answer.message()
        return StepRefused(code, self.name, path, f"it answered HTTP {answer.status}" + (f": {said}" if said else ""))

    def close(self) -> None:
        self.client.close()


class ValidationService(_Service):
    """Asks the service about each file; every refusal of every file is reported."""

    def validate_file(self, file: FileContent) -> list[str]:
        try:
            with self.client.post(self._one_file(file), with_parameters=True) as answer:
                if answer.status in (200, 304):
                    return []
                if answer.status == 422:
                    return [answer.message() or "refused (the service gave no reason)"]
                raise self._unexpected("validation_error", file.path, answer)
        except Unreachable as exc:
            raise StepRefused("validation_error", self.name, file.path, str(exc)) from None


class MutationService(_Service):
    """Asks the service to remake each file; the first refusal stops the ingest."""

    def mutate(self, file: FileContent) -> Iterator[bytes] | None:
        stack = contextlib.ExitStack()
        try:
            answer = stack.enter_context(self.client.post(self._one_file(file), with_parameters=True))
            if answer.status == 200:
                return self._streamed(stack.pop_all(), answer, file.path)
            if answer.status == 304:
                return None
            if answer.status == 422:
                raise StepRefused("mutation_failed", self.name, file.path, answer.message() or "refused")
            raise self._unexpected("mutation_error", file.path, answer)
        except Unreachable as exc:
            raise StepRefused("mutation_error", self.name, file.path, str(exc)) from None
        finally:
            with contextlib.suppress(Unreachable):
                stack.close()

    def _streamed(self, stack: contextlib.ExitStack, answer: Answer, path: str) -> Iterator[bytes]:
        try:
            with stack:
                yield from answer.chunks()
        except Unreachable as exc:
            raise StepRefused("mutation_error", self.name, path, str(exc)) from None


class _Found(msgspec.Struct):
    filePath: str  # Rafter's field names
    metadata: dict[str, Any] | None = None


class _Error(msgspec.Struct):
    filePath: str = ""
    message: str = ""


class _Extracted(msgspec.Struct):
    data: list[_Found] | None = None
    errors: list[_Error] | None = None


class MetadataService(_Service):
    """Asks the service once about all its files; what it finds joins each file's metadata."""

    def describe(self, files: Sequence[FileContent]) -> dict[str, dict[str, Any]]:
        code = "metadata_extraction_failed"
        sent = _names_as_sent(self.name, [file.path for file in files])
        parts = [Part(file.path, posixpath.basename(file.path) or file.path, file) for file in files]
        try:
            with self.client.post(parts, with_parameters=False) as answer:
                if answer.status not in (200, 207):
                    raise self._unexpected(code, "", answer)
                body = answer.read(MAX_METADATA_ANSWER)
        except Unreachable as exc:
            raise StepRefused(code, self.name, "", str(exc)) from None
        if body is None:
            raise StepRefused(code, self.name, "", f"its answer is larger than {MAX_METADATA_ANSWER} bytes")
        try:
            extracted = msgspec.json.decode(body, type=_Extracted)
        except msgspec.DecodeError as exc:
            what = "not the metadata answer {data: [{filePath, metadata}], errors: [...]}"
            raise StepRefused(code, self.name, "", f"its answer is {what} ({exc})") from None
        if extracted.errors:
            raise StepRefused.joined(
                [StepRefused(code, self.name, e.filePath, e.message or "no message") for e in extracted.errors]
            )
        found: dict[str, dict[str, Any]] = {}
        for item in extracted.data or []:
            path = sent.get(item.filePath)
            if path is None:
                raise StepRefused(code, self.name, item.filePath, "the service answered for a file it was not sent")
            try:
                check_storable(item.metadata or {})
            except InvalidInput as exc:
                what = f"its metadata cannot be stored: {exc.message}"
                raise StepRefused(code, self.name, path, what) from None
            found.setdefault(path, {}).update(item.metadata or {})
        return found


_FORM_ENCODED = {'"': "%22", "\\": "\\\\", **{chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B}}
_FORM_ENCODING = str.maketrans(_FORM_ENCODED)


def _names_as_sent(service: str, paths: Sequence[str]) -> dict[str, str]:
    """Each file's path by the part name a service reads, and by the path itself.

    Part names go out as HTML5 forms encode them (httpx's multipart: ``"`` as ``%22``), so a
    service may answer with either spelling. Two paths that a service would see as one name
    (``a"b`` and ``a%22b``) cannot be told apart in its answer: refused, not guessed.
    """
    names: dict[str, str] = {}
    for path in paths:
        encoded = path.translate(_FORM_ENCODING)
        for name in {path, encoded}:
            if names.setdefault(name, path) != path:
                raise StepRefused(
                    "metadata_extraction_failed",
                    service,
                    path,
                    f"a metadata service sees its name as that of {names[name]!r}; rename one of the two",
                )
    return names


_KINDS: dict[str, type[_Service]] = {
    "validation": ValidationService,
    "mutation": MutationService,
    "metadata": MetadataService,
}


def make_services(configs: Sequence[ServiceConfig]) -> list[_Service]:
    """The configured services, each with its own connection pool."""
    return [_KINDS[config.kind](config) for config in configs]
