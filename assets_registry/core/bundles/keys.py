"""Where the bundle subsystem keeps its blobs: the one place that names them.

- ``staging/<upload_id>.zip``: an uploaded archive, kept until its job ends, never served;
  ``staging/<upload_id>.early.json`` beside it lists the members stored while it streamed in,
  ``staging/<upload_id>.services.json`` the webhook services the upload named.
- ``assets/<upload_id>/<member name>``: the files of an asset. Unique to the upload, so two
  uploads racing for one ``asset_id`` never touch each other's blobs and cleaning up after a
  failure deletes only the upload's own; the same on every attempt of a job, so a re-run
  after a crash overwrites what the crashed attempt wrote and recognises an asset it
  already registered as its own.
- ``assets/<upload_id>~<step>/<member name>``: a member as a mutator remade it.
- An upload into a named bucket (``?bucket=``; ``core.sources``) keeps the same layout inside
  the bucket's folder: ``assets/b.<bucket>/<upload_id>/<member name>`` and
  ``assets/b.<bucket>~<step>/<upload_id>/…``, its archive staged as
  ``staging/<upload_id>.b.<bucket>.zip`` so that every attempt of its job knows the bucket.
  The default bucket's uploads keep the layout above.
- ``staging/<upload_id>.tus.json`` and ``staging/<upload_id>.parts/<offset>.<nonce>``: a resumable
  upload (``resumable``) and the pieces it received, read in place by its job.
- ``zip-frames/v1/<sha256 of asset.json>``: the kept frames of an asset's ZIP download
  (``frames``), which can never be used with other metadata.
"""

from __future__ import annotations

from assets_registry.core.bucket_names import FILES_PREFIX

STAGING_PREFIX = "staging/"
FRAMES_PREFIX = "zip-frames/v1/"
ARCHIVE_SUFFIX = ".zip"
_MANIFEST_SUFFIX = ".early.json"
_SERVICES_SUFFIX = ".services.json"
_BEHALF_SUFFIX = ".who.json"


_BUCKET_MARK = ".b."


def staged_key(upload_id: str, suffix: str = ARCHIVE_SUFFIX, bucket: str | None = None) -> str:
    """Where an uploaded archive waits for its job (``bucket``: the named bucket it goes to)."""
    return f"{STAGING_PREFIX}{upload_id}{_BUCKET_MARK + bucket if bucket else ''}{suffix}"


def bucket_of(staged_key: str) -> str | None:
    """The named bucket of an upload from its staged key; None for the default bucket."""
    name = staged_key.removeprefix(STAGING_PREFIX).removesuffix(ARCHIVE_SUFFIX)
    _upload_id, mark, bucket = name.partition(_BUCKET_MARK)
    return bucket if mark and bucket else None


def manifest_key(staged_key: str) -> str:
    """Where the members stored early are listed, next to the staged archive."""
    return staged_key.removesuffix(ARCHIVE_SUFFIX) + _MANIFEST_SUFFIX


def services_key(staged_key: str) -> str:
    """Where the webhook services an upload named are listed, next to the staged archive."""
    return staged_key.removesuffix(ARCHIVE_SUFFIX) + _SERVICES_SUFFIX


def behalf_key(staged_key: str) -> str:
    """Where the uploader (token name, request id) is kept, so the job's changes are recorded as theirs."""
    return staged_key.removesuffix(ARCHIVE_SUFFIX) + _BEHALF_SUFFIX


def resumable_key(upload_id: str) -> str:
    """Where a resumable upload's record is kept (its length, owner, metadata)."""
    return f"{STAGING_PREFIX}{upload_id}.tus.json"


def parts_folder(upload_id: str) -> str:
    """The folder of the pieces a resumable upload received."""
    return f"{STAGING_PREFIX}{upload_id}.parts/"


def part_key(upload_id: str, offset: int, nonce: str) -> str:
    """A piece of a resumable upload that starts at ``offset`` (padded: names sort as offsets),
    one of its own (``nonce``): two appends from one offset never replace each other."""
    return f"{parts_folder(upload_id)}{offset:020d}.{nonce}"


def file_key(upload_id: str, name: str, bucket: str | None = None) -> str:
    """A member's blob: unique to the upload, and the same on every attempt of its job."""
    return f"{FILES_PREFIX}{'b.' + bucket + '/' if bucket else ''}{upload_id}/{name}"


def mutated_key(member_key: str, step: int) -> str:
    """What a mutator made of a member (step 1, 2, … for mutators in turn): the member's key
    with its upload folder ``<upload_id>~<step>``, so no member's name can be one of these."""
    folder, _slash, name = unmutated_key(member_key)[len(FILES_PREFIX) :].partition("/")
    return f"{FILES_PREFIX}{folder}~{step}/{name}"


def unmutated_key(key: str) -> str:
    """The member key a mutated key was made from (any other key as it is)."""
    if not key.startswith(FILES_PREFIX):
        return key
    folder, slash, name = key[len(FILES_PREFIX) :].partition("/")
    upload_id, tilde, step = folder.partition("~")
    return f"{FILES_PREFIX}{upload_id}/{name}" if tilde and step.isdigit() and slash else key


def frames_key(manifest_sha256: str) -> str:
    """Where the frames for the ``asset.json`` of this SHA-256 (hex) are kept."""
    return FRAMES_PREFIX + manifest_sha256


__all__ = [
    "ARCHIVE_SUFFIX",
    "FILES_PREFIX",
    "FRAMES_PREFIX",
    "STAGING_PREFIX",
    "behalf_key",
    "bucket_of",
    "file_key",
    "frames_key",
    "manifest_key",
    "mutated_key",
    "part_key",
    "parts_folder",
    "resumable_key",
    "services_key",
    "staged_key",
    "unmutated_key",
]
