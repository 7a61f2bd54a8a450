"""The domain's exceptions.

Every error the registry raises on purpose carries a machine-readable ``code`` and a
sentence a person can act on. The kinds here (``InvalidInput``, ``TooLarge``, ``NotFound``,
``Conflict``, ``RevisionMismatch``, ``BackendUnavailable``, ``ConfigurationError``) are all
the HTTP and GraphQL layers map to status codes, in one place each; the errors of a
subsystem (``core.bundles.errors``, a plugin's own) subclass one of them, so a new error
needs no new mapping. Nothing below the apps knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem found in a document, located by its JSON path (``profiles[0].asset_type``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class RegistryError(Exception):
    """Base of the errors the registry raises on purpose."""

    code = "registry_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(RegistryError):
    """The client sent something the registry cannot accept; ``errors`` says where and why."""

    code = "invalid_input"

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors or [])


class TooLarge(InvalidInput):
    """The client sent more than the registry accepts (a body, an upload): HTTP 413."""

    code = "too_large"


class MalformedJSON(InvalidInput):
    """The body is not JSON the registry can store (syntax, nesting, number range)."""

    code = "malformed_json"


class InvalidAsset(InvalidInput):
    """An asset document failed validation (shape, types, identifiers or a validator)."""

    code = "invalid_asset"

    def __init__(self, errors: list[FieldError]) -> None:
        first = str(errors[0]) if errors else "the asset is invalid"
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        end = "" if (more or first).endswith((".", "?")) else "."
        super().__init__(f"The asset is invalid: {first}{more}{end}", errors)


class ForeignBlob(InvalidAsset):
    """A file URL names a blob of the registry's own store that another asset (or none) owns."""

    code = "foreign_blob"


class InvalidFilter(InvalidInput):
    """A search filter uses something outside the accepted subset of MongoDB queries."""

    code = "invalid_filter"

    def __init__(self, path: str, message: str) -> None:
        where = path or "(the filter)"
        super().__init__(f"The filter is invalid at {where}: {message}.", [FieldError(path, message)])


class InvalidCursor(InvalidInput):
    """A pagination cursor that this registry did not hand out."""

    code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__("The cursor is not one this registry handed out; start again without it.")


class NotFound(RegistryError):
    """Something the client named does not exist."""

    code = "not_found"


class AssetNotFound(NotFound):
    code = "asset_not_found"

    def __init__(self, asset_id: str) -> None:
        super().__init__(f"No asset has the id {asset_id!r}.")
        self.asset_id = asset_id


class BlobNotFound(NotFound):
    code = "blob_not_found"

    def __init__(self, key: str) -> None:
        super().__init__(f"No blob is stored under {key!r}.")
        self.key = key


class RevisionNotFound(NotFound):
    code = "revision_not_found"

    def __init__(self, asset_id: str, n: int) -> None:
        super().__init__(f"No revision {n} of the asset {asset_id!r} is kept.")
        self.asset_id, self.n = asset_id, n


class JobNotFound(NotFound):
    code = "upload_not_found"

    def __init__(self, upload_id: str) -> None:
        super().__init__(f"No upload has the id {upload_id!r}.")
        self.upload_id = upload_id


class RecordNotFound(NotFound):
    """No bucket, source or token of that key (``CatalogStore``)."""

    code = "not_found"

    def __init__(self, kind: str, key: str) -> None:
        what = {"buckets": "bucket", "sources": "source", "tokens": "token"}.get(kind, kind)
        super().__init__(f"No {what} is called {key!r}.")
        self.code = f"{what}_not_found"
        self.kind, self.key = kind, key


class Conflict(RegistryError):
    """The request clashes with the stored state."""

    code = "conflict"


class RecordExists(Conflict):
    code = "record_exists"

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"A record {key!r} already exists in {kind}.")
        self.kind, self.key = kind, key


class RecordChanged(Conflict):
    """A bucket or source was changed by someone else since it was read."""

    code = "record_changed"

    def __init__(self, kind: str, key: str) -> None:
        super().__init__(f"The record {key!r} of {kind} was changed meanwhile; read it again.")
        self.kind, self.key = kind, key


class AssetExists(Conflict):
    code = "asset_exists"

    def __init__(self, asset_id: str) -> None:
        super().__init__(
            f"An asset with the id {asset_id!r} already exists; update it with PUT /assets/{{id}} or choose another id."
        )
        self.asset_id = asset_id


class RevisionMismatch(Conflict):
    """Optimistic concurrency: the stored asset changed since the caller read it."""

    code = "revision_mismatch"

    def __init__(self, asset_id: str) -> None:
        super().__init__(f"The asset {asset_id!r} was changed by someone else; read it again and retry.")
        self.asset_id = asset_id


class BackendUnavailable(RegistryError):
    """A storage backend did not answer; the request may succeed if retried later."""

    code = "backend_unavailable"

    def __init__(self, backend: str, detail: str, retry_after: int = 5) -> None:
        super().__init__(f"The {backend} is not answering ({detail}); try again shortly.")
        self.backend = backend
        self.retry_after = retry_after


class PluginFailed(RegistryError):
    """A plugin's code failed at run time (a validator raised, or answered in the wrong shape).

    Not the client's fault: the answer is a 500 with code ``plugin_failed`` naming the plugin,
    and a ZIP job ends ``failed: plugin_failed: <plugin>: <message>``.
    """

    code = "plugin_failed"

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(f"The plugin {plugin!r} failed: {message}. The server log has the details.")
        self.plugin = plugin
        self.reason = message


class StepRefused(RegistryError):
    """A step of the ingest stopped it: a validator or service refused a file, or a service failed.

    ``code`` is the reason's kind as the job status shows it (the Asset Store's reasons):
    ``validation_failed`` (refused) or ``validation_error`` (the service could not answer),
    ``mutation_failed`` / ``mutation_error``, ``metadata_extraction_failed``. ``reason`` is
    the whole status reason, ``<code>: <step>: <file>: <message>``, several joined by ``; ``.
    """

    code = "step_refused"
    MOST_LISTED = 20

    def __init__(self, code: str, step: str, path: str, message: str) -> None:
        self.code = code
        self.refusals = [(step, path, message)]
        super().__init__(f"The asset was not ingested: {self.reason}.")

    @property
    def reason(self) -> str:
        shown = [": ".join(part for part in refusal if part) for refusal in self.refusals[: self.MOST_LISTED]]
        more = len(self.refusals) - len(shown)
        return f"{self.code}: {'; '.join(shown)}" + (f"; and {more} more" if more > 0 else "")

    @classmethod
    def joined(cls, refusals: list[StepRefused]) -> StepRefused:
        """One error listing every refusal (validation reports them all, not the first)."""
        first = refusals[0]
        joined = cls(first.code, *first.refusals[0])
        joined.refusals = [r for refusal in refusals for r in refusal.refusals]
        joined.message = f"The asset was not ingested: {joined.reason}."
        return joined


class ConfigurationError(RegistryError):
    """The operator's configuration cannot be used as written."""

    code = "configuration_error"
