"""The audit trail and the revision history: every change, who made it, and earlier documents.

``HistoryStore`` is the port. Every change — an asset created, updated or deleted; an upload
accepted or ended; a bucket or source put or deleted; a token created or revoked; blobs freed
— is appended as a ``Change``: its action, who (``actor``: a token's name, ``anonymous``,
or ``system`` for the workers), which asset or bucket, the revision before and after, when,
and the request id and client address of the request that made it. Changes are append-only
(nothing in the API edits or deletes one). Each version of an asset's document written is
kept too, numbered ``n`` = 1, 2, … per asset id across deletes and re-creates, and readable
after the asset is gone; ``keep_revisions`` / ``keep_revision_days`` bound how many stay.

**In the same transaction where the backend allows.** While ``Registry`` writes an asset it
holds the change ``pending()``; a metadata store that can write it in the same transaction as
the document (SQLite: one file) does so and calls ``Pending.take``, so there is no change
without its record. When no store took it, ``Registry`` appends it right after the write.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from assets_registry.core import access
from assets_registry.core.errors import InvalidCursor

Document = dict[str, Any]
log = logging.getLogger(__name__)

ACTIONS = (
    "asset.created",
    "asset.updated",
    "asset.deleted",
    "upload.accepted",
    "upload.ended",
    "bucket.put",
    "bucket.deleted",
    "source.put",
    "source.deleted",
    "token.created",
    "token.revoked",
    "blobs.freed",
)


MAX_REVISION = 2**63 - 1
"""The most any store counts to (a 64-bit integer); larger numbers name no revision."""


def number_after(after: str | None) -> int | None:
    """The number (revision, change id) a page cursor holds; ``InvalidCursor`` if it holds none."""
    if after is None:
        return None
    if not (after.isascii() and after.isdigit()) or int(after) > MAX_REVISION:
        raise InvalidCursor()
    return int(after)


@dataclass(frozen=True)
class Change:
    """One record of the audit trail."""

    action: str
    actor: str
    at: float
    asset_id: str | None = None
    bucket: str | None = None
    revision_before: int | None = None
    revision_after: int | None = None
    request_id: str | None = None
    client: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_document(self) -> Document:
        return asdict(self)


@dataclass(frozen=True)
class RequestInfo:
    request_id: str
    client: str | None


_request: ContextVar[RequestInfo | None] = ContextVar("assets_registry_request", default=None)


class _RequestIds:
    """Unique request ids without a system call each: a random prefix per process (drawn again
    after a fork) and a counter, 32 hex digits as a UUID's."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.prefix = uuid.uuid4().hex[:16]
        self.counter = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


new_request_id = _RequestIds()


@contextlib.contextmanager
def serving(request_id: str | None, client: str | None) -> Iterator[str]:
    """Run a request's work under its id (the client's ``X-Request-ID``, or a new one)."""
    info = RequestInfo(request_id or new_request_id(), client)
    token = _request.set(info)
    try:
        yield info.request_id
    finally:
        _request.reset(token)


@dataclass(frozen=True)
class Behalf:
    """Whose work a worker does: the token that uploaded a bundle or declared a source."""

    actor: str
    request_id: str | None = None
    client: str | None = None

    def to_document(self) -> Document:
        return asdict(self)

    @classmethod
    def of(cls, value: Any) -> Behalf | None:
        """The ``Behalf`` a record kept (``to_document``'s), or None for anything else."""
        if not isinstance(value, dict) or not isinstance(value.get("actor"), str):
            return None
        return cls(value["actor"], value.get("request_id"), value.get("client"))


_behalf: ContextVar[Behalf | None] = ContextVar("assets_registry_behalf", default=None)


def behalf() -> Behalf:
    """Who the running work is for: the request's principal, the one a worker works for, or ``system``."""
    principal = access.current()
    info = _request.get()
    if principal is not None:
        return Behalf(principal.name, None if info is None else info.request_id, None if info is None else info.client)
    return _behalf.get() or Behalf("system")


@contextlib.contextmanager
def on_behalf_of(who: Behalf | None) -> Iterator[None]:
    """Record the changes a worker makes as the uploader's or declarer's (None: as ``system``)."""
    token = _behalf.set(who)
    try:
        yield
    finally:
        _behalf.reset(token)


def change(action: str, **fields: Any) -> Change:
    """A change made now by whoever the running work is for (``behalf()``)."""
    who = behalf()
    return Change(
        action=action,
        actor=who.actor,
        at=time.time(),
        request_id=who.request_id,
        client=who.client,
        **fields,
    )


def parse_moment(text: str) -> float:
    """Epoch seconds or an ISO 8601 time (UTC unless it says otherwise); ``ValueError`` otherwise."""
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)).timestamp()


def note(store: HistoryStore | None, action: str, **fields: Any) -> None:
    """Append a change that no metadata write carries (a bucket, a token, an upload, a sweep).

    The change is already made: a history that fails is logged, and the caller goes on.
    """
    if store is None:
        return
    try:
        store.append(change(action, **fields))
    except Exception:
        log.exception("the change %s could not be recorded in the history", action)


@dataclass
class Pending:
    """A change waiting for the write it records; a store that writes it in its transaction takes it."""

    change: Change
    document: Document | None = None
    taken: bool = False

    def take(self, revision_before: int | None, revision_after: int | None) -> Change:
        """The change with the revisions the store saw, marked as written by the store."""
        self.taken = True
        self.change = replace(self.change, revision_before=revision_before, revision_after=revision_after)
        return self.change


_pending: ContextVar[Pending | None] = ContextVar("assets_registry_pending_change", default=None)


def pending() -> Pending | None:
    """The change the running write records, if any (for metadata stores that write it themselves)."""
    return _pending.get()


@contextlib.contextmanager
def recording(note: Pending) -> Iterator[Pending]:
    token = _pending.set(note)
    try:
        yield note
    finally:
        _pending.reset(token)


@runtime_checkable
class HistoryStore(Protocol):
    """Keeps the audit trail and the asset revisions; its contract is ``testing.history_contract``."""

    def append(self, change: Change, document: Document | None = None) -> None:
        """Add the change; with ``document`` (an asset version written), keep it as the asset's next revision."""

    def changes(
        self,
        limit: int,
        after: str | None = None,
        asset_id: str | None = None,
        actor: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> tuple[list[Document], str | None]:
        """Up to ``limit`` changes in the order they were made, after the cursor ``after``;
        each has its ``id``; also the cursor of the next page (None: the last)."""

    def revisions(self, asset_id: str, limit: int, after: int | None = None) -> tuple[list[Document], int | None]:
        """The asset's kept revisions in order (``n``, ``revision``, ``at``, ``actor``), without documents."""

    def revision(self, asset_id: str, n: int) -> Document:
        """The revision ``n`` with its ``document``; ``RevisionNotFound`` if it is not kept."""

    def prune(self, asset_id: str, keep: int, older_than: float | None) -> int:
        """Forget revisions beyond the newest ``keep`` (0: no limit) or older than ``older_than``
        (epoch seconds; the newest is always kept); how many went."""

    def check(self) -> None:
        """Return if the backend answers; raise ``BackendUnavailable`` otherwise."""

    def close(self) -> None:
        """Release connections."""
