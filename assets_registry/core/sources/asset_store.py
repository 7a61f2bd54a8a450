"""The Asset Store's use cases: buckets and sources declared, listed, deleted, and leased to workers.

Records live in the ``CatalogStore``; every change is a compare-and-set, tried again on a
fresh read when a worker or another client changed the record meanwhile. A source is
imported by whichever worker claims it when it is ``due`` (``claim``): the claim is a lease
(``due`` moves to its end), so a worker killed mid-import leaves the source to the next
claim once the lease runs out, and two workers never import one source at once.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from typing import Any

from assets_registry.core import access, history
from assets_registry.core.bucket_names import DEFAULT_BUCKET, bucket_name_problem
from assets_registry.core.bundles.keys import FILES_PREFIX
from assets_registry.core.bundles.steps import StepCatalog
from assets_registry.core.errors import (
    AssetNotFound,
    Conflict,
    RecordChanged,
    RecordExists,
    RecordNotFound,
)
from assets_registry.core.ports import BlobStore, CatalogRecord, CatalogStore, Document
from assets_registry.core.registry import Registry
from assets_registry.core.sources.bucket_contents import (
    check_buckets,
    delete_bucket,
    own_buckets,
    own_sources,
)
from assets_registry.core.sources.model import bucket_spec, source_spec

_TRIES = 20
MARKER = ".bucket"
PUBLIC_POLICIES = ("readonly", "readwrite")
"""A bucket's files are readable without a token: only an admin may open a bucket so."""


class BucketNotEmpty(Conflict):
    code = "bucket_not_empty"


class LeaseLost(Exception):
    """Another worker holds the source now (or it was deleted): stop touching it."""


def bucket_folder(name: str) -> str:
    """Where a bucket's files live in the blob store: a key prefix of the registry's files."""
    return f"{FILES_PREFIX}b.{name}/"


def source_folder(bucket: str, uid: str) -> str:
    return f"{bucket_folder(bucket)}{uid}/"


def status(phase: str, reason: str, message: str, **more: Any) -> dict[str, Any]:
    return {"phase": phase, "reason": reason, "message": message, **more}


class AssetStore:
    def __init__(
        self,
        catalog: CatalogStore,
        blobs: BlobStore,
        registry: Registry,
        steps: StepCatalog,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalog, self.blobs, self.registry, self.steps, self.clock = catalog, blobs, registry, steps, clock

    # -- buckets ------------------------------------------------------------------------

    def put_bucket(self, name: str, body: Any) -> tuple[Document, bool]:
        spec = bucket_spec(name, body)
        access.require_bucket(name)
        if spec["policy"] in PUBLIC_POLICIES and not self._policy_kept(name, spec["policy"]):
            access.require_scope("admin", "opening a bucket's files to anyone without a token")
        for _ in range(_TRIES):
            try:
                record = self.catalog.get("buckets", name)
            except RecordNotFound:
                document = {"name": name, **spec, "created_at": self.clock(), "due": None}
                document["status"] = self.make_bucket(name, "bucket_created", f"the bucket {name!r} is ready")
                document["due"] = self.clock()
                try:
                    self.catalog.insert("buckets", name, document)
                except RecordExists:
                    continue
                self.wake(name)
                history.note(self.registry.history, "bucket.put", bucket=name, detail={"created": True, **spec})
                return self.bucket_answer(document), True
            document = record.document
            terminating = (document.get("status") or {}).get("phase") == "Terminating"
            if {k: document.get(k) for k in spec} == spec and not terminating:
                return self.bucket_answer(document), False
            changed = {**document, **spec}
            if terminating:  # a delete that did not finish (its process died): PUT makes the bucket again
                changed["status"] = self.make_bucket(name, "bucket_created", f"the bucket {name!r} is ready")
            elif spec["policy"] != document.get("policy"):
                changed["status"] = status(
                    "Ready", "bucket_policy_updated", f"the policy is now {spec['policy']!r}", last_checked=self.clock()
                )
            try:
                self.catalog.replace("buckets", name, changed, record.version)
            except RecordChanged:
                continue
            history.note(self.registry.history, "bucket.put", bucket=name, detail={"created": False, **spec})
            return self.bucket_answer(changed), False
        raise RecordChanged("buckets", name)

    def make_bucket(self, name: str, reason: str, message: str) -> dict[str, Any]:
        """Write the bucket's marker blob (its folder exists from then on); the status that says so."""
        try:
            self.blobs.put(bucket_folder(name) + MARKER, [b'{"bucket": "' + name.encode() + b'"}'])
        except Exception as exc:  # the store's fault, reported as the bucket's phase
            return status(
                "Failed", "bucket_verification_failure", f"the store did not answer: {exc}", last_checked=self.clock()
            )
        return status("Ready", reason, message, last_checked=self.clock())

    def ensure_default_bucket(self) -> None:
        try:
            self.catalog.get("buckets", DEFAULT_BUCKET)
        except RecordNotFound:
            with contextlib.suppress(RecordChanged):
                self.put_bucket(DEFAULT_BUCKET, {})

    def get_bucket(self, name: str) -> Document:
        if not access.sees(name):
            raise RecordNotFound("buckets", name)
        return self.bucket_answer(self.catalog.get("buckets", name).document)

    def list_buckets(self, limit: int, after: str | None = None) -> tuple[list[Document], str | None]:
        allowed = access.limits()
        if allowed is not None:  # only its own buckets: no page or cursor is made of the others
            return own_buckets(self, allowed, limit, after)
        records = self.catalog.records("buckets", limit + 1, after)
        page, next_after = _paged([r.document for r in records], limit, "name")
        return [self.bucket_answer(d) for d in page], next_after

    def _policy_kept(self, name: str, policy: str) -> bool:
        try:
            return bool(self.catalog.get("buckets", name).document.get("policy") == policy)
        except RecordNotFound:
            return False

    def delete_bucket(self, name: str, force: bool = False) -> None:
        """The bucket, once nothing uses it; with ``force``, its sources and assets first (``bucket_contents``)."""
        delete_bucket(self, name, force)

    def bucket_open(self, name: str) -> bool:
        """May an upload job register its asset into this bucket now (it exists and is Ready)?"""
        try:
            return (self.catalog.get("buckets", name).document.get("status") or {}).get("phase") == "Ready"
        except RecordNotFound:
            return False

    def bucket_answer(self, document: Document) -> Document:
        name = document["name"]
        try:
            url = self.blobs.stat(bucket_folder(name) + MARKER).url.removesuffix(MARKER)
        except Exception:
            url = ""
        return {
            "name": name,
            "region": document.get("region", ""),
            "policy": document.get("policy", "none"),
            "url": url,
            "status": document.get("status") or {},
        }

    def wake(self, bucket: str) -> None:
        """The bucket is Ready: sources waiting on it are due now."""
        for record in self.catalog.records("sources", 1000, bucket=bucket):
            if (record.document.get("status") or {}).get("reason") == "bucket_not_ready":
                self.update_record(
                    "sources", record.key, lambda d: {**d, "due": self.clock()} if not d.get("holder") else d
                )

    # -- sources ------------------------------------------------------------------------

    def put_source(self, asset_id: str, body: Any) -> tuple[Document, bool]:
        spec = source_spec(asset_id, body)
        self.steps.check_names(spec["services"])
        access.require_bucket(spec["bucket"])
        for _ in range(_TRIES):
            now = self.clock()
            try:
                record = self.catalog.get("sources", asset_id)
            except RecordNotFound:
                document = {
                    "asset_id": asset_id,
                    "uid": uuid.uuid4().hex,
                    "bucket": spec["bucket"],
                    "spec": spec,
                    "generation": 1,
                    "status": status("Pending", "scheduled", "waiting for a worker to import generation 1",
                                     observed_generation=0, last_heartbeat=None, files=[]),
                    "due": now,
                    "holder": None,
                    "lease_until": None,
                    "failures": 0,
                    "created_at": now,
                    "declared_by": history.behalf().to_document(),
                }  # fmt: skip
                try:
                    self.catalog.insert("sources", asset_id, document)
                except RecordExists:
                    continue
                history.note(self.registry.history, "source.put", asset_id=asset_id, bucket=spec["bucket"],
                             detail={"generation": 1, "url": spec["url"], "mode": spec["mode"]})  # fmt: skip
                return self.source_answer(document), True
            document = record.document
            access.require_bucket(document["bucket"])  # moving a source out of a bucket is a change to it
            if document["spec"] == spec:
                return self.source_answer(document), False
            generation = document["generation"] + 1
            held = document.get("holder") and (document.get("lease_until") or 0) > now
            changed = {
                **document,
                "spec": spec,
                "bucket": spec["bucket"],
                "generation": generation,
                "failures": 0,
                "declared_by": history.behalf().to_document(),
                "due": document["due"] if held else now,
                "status": {
                    **document["status"],
                    **status("Pending", "scheduled", f"waiting for a worker to import generation {generation}"),
                },
            }
            try:
                self.catalog.replace("sources", asset_id, changed, record.version)
            except RecordChanged:
                continue
            about = {"generation": changed["generation"], "url": spec["url"], "mode": spec["mode"]}
            history.note(self.registry.history, "source.put", asset_id=asset_id, bucket=spec["bucket"], detail=about)
            return self.source_answer(changed), False
        raise RecordChanged("sources", asset_id)

    def get_source(self, asset_id: str) -> Document:
        document = self.catalog.get("sources", asset_id).document
        if not access.sees(document["bucket"]):
            raise RecordNotFound("sources", asset_id)
        return self.source_answer(document)

    def list_sources(
        self, limit: int, after: str | None = None, bucket: str | None = None
    ) -> tuple[list[Document], str | None]:
        allowed = access.limits()
        if allowed is not None:  # the sources of its own buckets only
            return own_sources(self, allowed, limit, after, bucket)
        records = self.catalog.records("sources", limit + 1, after, bucket=bucket)
        page, next_after = _paged([r.document for r in records], limit, "asset_id")
        return [self.source_answer(d) for d in page], next_after

    def delete_source(self, asset_id: str) -> None:
        """The source, its asset (if the source made it) and every blob it wrote."""
        document = self.catalog.get("sources", asset_id).document
        access.require_bucket(document["bucket"])
        self.catalog.delete("sources", asset_id)
        history.note(self.registry.history, "source.deleted", asset_id=asset_id, bucket=document["bucket"])
        self.forget_asset(asset_id, document["uid"])
        self.delete_folders(document["bucket"], document["uid"])

    def forget_asset(self, asset_id: str, uid: str) -> None:
        try:
            if self.made_by(asset_id, uid):
                self.registry.delete(asset_id)
        except AssetNotFound:
            pass

    def made_by(self, asset_id: str, uid: str) -> bool:
        """Did the source of this ``uid`` register the asset? (Its files lie in the source's folders.)"""
        document = self.registry.get(asset_id).document
        for entry in document.get("files") or []:
            key = self.blobs.key_for_url(str(entry.get("asset_file_url", ""))) or ""
            parts = key[len(FILES_PREFIX) :].split("/")
            if key.startswith(FILES_PREFIX) and parts[0].startswith("b.") and len(parts) > 1 and parts[1] == uid:
                return True
        return False

    def delete_folders(self, bucket: str, uid: str, keep: set[str] | None = None) -> None:
        """Every blob under the source's folders (and its mutated copies'), but those in ``keep``."""
        for step in range(max(8, self.steps.most_mutation_steps()) + 1):
            folder = source_folder(bucket, uid)
            if step:
                folder = f"{FILES_PREFIX}b.{bucket}~{step}/{uid}/"
            for blob in list(self.blobs.listing(folder)):
                if keep is None or blob.key not in keep:
                    self.blobs.delete(blob.key)

    def source_answer(self, document: Document) -> Document:
        return {"asset_id": document["asset_id"], **document["spec"], "generation": document["generation"],
                "status": document["status"]}  # fmt: skip

    # -- leases -------------------------------------------------------------------------

    def claim(self, worker: str, lease_seconds: float) -> CatalogRecord | None:
        """A due source, leased to ``worker``; None when none is due."""
        now = self.clock()
        for record in self.catalog.due("sources", now, 10):
            document = record.document
            if document.get("holder") and (document.get("lease_until") or 0) > now:
                continue
            claimed = {**document, "holder": worker, "lease_until": now + lease_seconds, "due": now + lease_seconds}
            try:
                return self.catalog.replace("sources", record.key, claimed, record.version)
            except (RecordChanged, RecordNotFound):
                continue
        return None

    def renew(self, record: CatalogRecord, worker: str, lease_seconds: float, **changes: Any) -> CatalogRecord:
        """The lease extended (and ``changes`` made); ``LeaseLost`` if another worker has it."""
        now = self.clock()
        return self._held(record, worker, lambda d: {**d, **changes, "lease_until": now + lease_seconds,
                                                      "due": now + lease_seconds})  # fmt: skip

    def release(self, record: CatalogRecord, worker: str, generation: int, outcome: dict[str, Any],
                due: float | None, failures: int) -> CatalogRecord:  # fmt: skip
        """Record the import's outcome and let the source go. A spec changed meanwhile (a newer
        generation) is not given the old one's outcome: it stays Pending, due now."""

        def ended(document: Document) -> Document:
            base = {**document, "holder": None, "lease_until": None}
            if document["generation"] != generation:
                return {**base, "due": self.clock()}
            return {**base, "status": outcome, "due": due, "failures": failures}

        return self._held(record, worker, ended)

    def _held(self, record: CatalogRecord, worker: str, change: Callable[[Document], Document]) -> CatalogRecord:
        for _ in range(_TRIES):
            if record.document.get("holder") != worker:
                raise LeaseLost()
            try:
                return self.catalog.replace("sources", record.key, change(record.document), record.version)
            except RecordChanged:
                try:
                    record = self.catalog.get("sources", record.key)
                except RecordNotFound:
                    raise LeaseLost() from None
            except RecordNotFound:
                raise LeaseLost() from None
        raise LeaseLost()

    def update_record(self, kind: Any, key: str, change: Callable[[Document], Document]) -> None:
        for _ in range(_TRIES):
            try:
                record = self.catalog.get(kind, key)
                self.catalog.replace(kind, key, change(record.document), record.version)
                return
            except RecordChanged:
                continue
            except RecordNotFound:
                return

    # -- bucket checks ------------------------------------------------------------------

    def check_buckets(self, interval: float) -> None:
        """Buckets due for a check: is the folder's marker there? Made again if it vanished."""
        check_buckets(self, interval)


def _paged(items: list[Document], limit: int, key: str) -> tuple[list[Document], str | None]:
    if len(items) > limit:
        return items[:limit], str(items[limit - 1][key])
    return items, None


__all__ = ["AssetStore", "BucketNotEmpty", "LeaseLost", "bucket_name_problem"]
