"""One list of reasons for everything that ends or waits: upload jobs, sources and buckets.

Each reason is a snake_case code, the phase it goes with, the Rafter reason it stands for
(kyma-project/rafter's ``AssetReason`` and ``BucketReason``), whether the controller tries
again by itself, and the sentence a person reads (its template). ``docs/asset-store.md``
prints this table; the HTTP answers carry ``reason`` and ``message`` beside the phase.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    code: str
    phase: str
    rafter: str
    retried: bool
    template: str


REASONS: tuple[Reason, ...] = (
    Reason("scheduled", "Pending", "Scheduled", True, "waiting for a worker to import generation {generation}"),
    Reason("bucket_not_ready", "Pending", "BucketNotReady", True, "the bucket {bucket!r} is missing or not Ready"),
    Reason(
        "missing_content", "Pending", "MissingContent", True, "{count} file(s) gone from the store; importing again"
    ),
    Reason("uploaded", "Ready", "Uploaded", False, "{count} file(s) stored in the bucket {bucket!r}"),
    Reason("pulling_failed", "Failed", "PullingFailed", True, "fetching {url} failed: {what}"),
    Reason("url_refused", "Failed", "PullingFailed", False, "{url} may not be fetched: {what}"),
    Reason("package_invalid", "Failed", "PullingFailed", False, "the package cannot be imported: {what}"),
    Reason("index_invalid", "Failed", "PullingFailed", False, "the index cannot be read: {what}"),
    Reason("source_too_large", "Failed", "PullingFailed", False, "{url} is larger than the {limit} bytes accepted"),
    Reason("upload_failed", "Failed", "UploadFailed", True, "storing the files failed: {what}"),
    Reason("bucket_error", "Failed", "BucketError", True, "the bucket {bucket!r} failed: {what}"),
    Reason("asset_invalid", "Failed", "ValidationFailed", False, "the asset is invalid: {what}"),
    Reason("asset_exists", "Failed", "UploadFailed", False, "an asset {asset_id!r} exists that no source made"),
    Reason("validation_failed", "Failed", "ValidationFailed", False, "<service>: <file>: <message>"),
    Reason("validation_error", "Failed", "ValidationError", True, "<service>: <file>: <what went wrong>"),
    Reason("mutation_failed", "Failed", "MutationFailed", False, "<service>: <file>: <message>"),
    Reason("mutation_error", "Failed", "MutationError", True, "<service>: <file>: <what went wrong>"),
    Reason("metadata_extraction_failed", "Failed", "MetadataExtractionFailed", True, "<service>: [<file>: ]<message>"),
    Reason("plugin_failed", "Failed", "ValidationError", True, "<plugin>: <what went wrong>"),
    Reason("cleanup_error", "Failed", "CleanupError", True, "the files of an earlier generation could not go: {what}"),
    Reason("server_error", "Failed", "UploadFailed", True, "the server failed while importing; it has been logged"),
    # Upload jobs (GET /zip/status) beside their seed status strings.
    Reason("processing", "Pending", "Scheduled", True, "a worker is storing the bundle"),
    Reason("bundle_rejected", "Failed", "UploadFailed", False, "the bundle breaks a rule: <the rule>"),
    Reason("interrupted", "Failed", "UploadFailed", False, "the job's workers kept stopping; upload it again"),
    # Buckets.
    Reason("bucket_created", "Ready", "BucketCreated", False, "the bucket {bucket!r} is ready"),
    Reason("bucket_policy_updated", "Ready", "BucketPolicyUpdated", False, "the policy is now {policy!r}"),
    Reason("bucket_verified", "Ready", "BucketCreated", False, "the bucket was checked and is there"),
    Reason("bucket_recreated", "Ready", "BucketNotFound", False, "the bucket had vanished from the store: made again"),
    Reason("bucket_deleting", "Terminating", "(none)", False, "the bucket is being deleted"),
    Reason(
        "bucket_verification_failure", "Failed", "BucketVerificationFailure", True, "the store did not answer: {what}"
    ),
)
BY_CODE = {reason.code: reason for reason in REASONS}
FINAL = frozenset(reason.code for reason in REASONS if reason.phase == "Failed" and not reason.retried)
"""Failed reasons the controller does not try again until the spec changes."""


def job_reason(status: str, failed_prefix: str = "failed: ") -> str:
    """The reason of an upload job's seed status string (``queued``, ``failed: validation_failed: …``)."""
    if status == "queued":
        return "scheduled"
    if status == "processing":
        return "processing"
    if status == "success":
        return "uploaded"
    said = status.removeprefix(failed_prefix)
    code = said.split(":", 1)[0]
    if code in BY_CODE and code not in ("scheduled", "uploaded", "processing"):
        return code
    if said.startswith("the server failed"):
        return "server_error"
    if said.startswith("the upload was interrupted"):
        return "interrupted"
    return "bundle_rejected"


class SourceFailed(Exception):
    """An import cannot go on; ``reason`` is a code of ``REASONS``, ``message`` the sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason, self.message = reason, message
