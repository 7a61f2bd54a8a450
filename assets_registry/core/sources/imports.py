"""One import of one source: the Asset Store's order, from its URL to a registered asset.

Clean what earlier generations left, fetch (``packages.Gatherer``: single, package or
index), mutate, validate, extract metadata, register (``Registry.create``, or ``replace``
for the source's own asset), Ready. A Ready source is checked again every
``check_seconds``: a file gone from the store (or the asset gone) is ``missing_content`` and
imported again. Refusals are final until the spec changes; transport and store faults are
tried again with a growing pause (``backoff``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from assets_registry.core import history
from assets_registry.core.bundles.describe import describe_files
from assets_registry.core.bundles.documents import check_listed_files, completed
from assets_registry.core.bundles.errors import BundleRejected
from assets_registry.core.bundles.mutate import mutate_files
from assets_registry.core.bundles.rules import BundleLimits
from assets_registry.core.bundles.steps import check_files
from assets_registry.core.errors import (
    AssetNotFound,
    BackendUnavailable,
    InvalidAsset,
    InvalidInput,
    PluginFailed,
    StepRefused,
)
from assets_registry.core.json_values import parse_json
from assets_registry.core.ports import CatalogRecord, Document
from assets_registry.core.sources.asset_store import AssetStore, LeaseLost, source_folder, status
from assets_registry.core.sources.fetch import Fetcher, FetchFailed
from assets_registry.core.sources.packages import Gathered, Gatherer
from assets_registry.core.sources.reasons import BY_CODE, SourceFailed

log = logging.getLogger("assets_registry.sources")


def backoff(failures: int) -> float:
    """Seconds before a source that failed ``failures`` times in a row is tried again."""
    return float(min(30 * 2 ** max(failures - 1, 0), 3600))


class SourceImports:
    def __init__(
        self,
        store: AssetStore,
        fetcher: Fetcher,
        limits: BundleLimits,
        lease_seconds: float = 60.0,
        check_seconds: float = 300.0,
        bucket_wait_seconds: float = 30.0,
    ) -> None:
        self.store, self.fetcher, self.limits = store, fetcher, limits
        self.lease_seconds, self.check_seconds, self.bucket_wait_seconds = (
            lease_seconds,
            check_seconds,
            bucket_wait_seconds,
        )

    def run_next(self, worker: str) -> CatalogRecord | None:
        """Claim one due source and import (or check) it; None if none was due."""
        record = self.store.claim(worker, self.lease_seconds)
        if record is not None:
            who = history.Behalf.of(record.document.get("declared_by"))
            try:
                with history.on_behalf_of(who):  # the import's changes are the declarer's
                    self.run(record, worker)
            except LeaseLost:
                log.warning("source %s: another worker took it over (or it was deleted)", record.key)
        return record

    def run(self, record: CatalogRecord, worker: str) -> None:
        document = record.document
        generation, spec, uid = document["generation"], document["spec"], document["uid"]
        asset_id = document["asset_id"]
        held = [record]
        last = [self.store.clock()]

        def tick() -> None:
            now = self.store.clock()
            if now - last[0] >= self.lease_seconds / 4:
                last[0] = now
                held[0] = self.store.renew(held[0], worker, self.lease_seconds,
                                           status={**held[0].document["status"], "last_heartbeat": now})  # fmt: skip

        def end(outcome: dict[str, Any], due: float | None, failures: int = 0) -> None:
            outcome = {**outcome, "last_heartbeat": self.store.clock()}
            self.store.release(held[0], worker, generation, outcome, due, failures)

        previous = document["status"]
        # Every outcome is about this generation (as Kubernetes' observedGeneration); ``files``
        # stay those stored until a generation is imported.
        base = {"observed_generation": generation, "files": previous.get("files", [])}
        bucket = self._bucket_phase(spec["bucket"])
        if bucket != "Ready":
            message = f"the bucket {spec['bucket']!r} is {'missing' if bucket is None else 'not Ready'}"
            end(
                {**base, **status("Pending", "bucket_not_ready", message)},
                self.store.clock() + self.bucket_wait_seconds,
            )
            return
        if previous.get("phase") == "Ready" and previous.get("observed_generation") == generation:
            missing = self._missing(asset_id, uid)
            if not missing:
                end(previous, self.store.clock() + self.check_seconds)
                return
            log.info("source %s: %d file(s) gone from the store; importing again", asset_id, len(missing))
        written: list[str] = []
        try:
            self._clean(spec["bucket"], uid, generation, asset_id)
            files = self._import(asset_id, uid, generation, spec, written, tick)
        except LeaseLost:
            raise
        except Exception as exc:
            reason, message = _reason_of(exc, asset_id)
            for key in written:
                try:
                    self.store.blobs.delete(key)
                except Exception:
                    log.warning("source %s: could not delete %s; the orphan sweep will", asset_id, key)
            failures = document.get("failures", 0) + 1
            retried = BY_CODE[reason].retried if reason in BY_CODE else True
            due = self.store.clock() + backoff(failures) if retried else None
            end({**base, **status("Failed", reason, message)}, due, failures)
            return
        count = len(files)
        message = f"{count} file(s) stored in the bucket {spec['bucket']!r}"
        outcome = status("Ready", "uploaded", message, observed_generation=generation, files=files)
        end(outcome, self.store.clock() + self.check_seconds)

    def _bucket_phase(self, name: str) -> str | None:
        try:
            return str((self.store.catalog.get("buckets", name).document.get("status") or {}).get("phase"))
        except Exception:
            return None

    def _missing(self, asset_id: str, uid: str) -> list[str]:
        try:
            if not self.store.made_by(asset_id, uid):
                return [asset_id]
            files = self.store.registry.get(asset_id).document.get("files") or []
        except AssetNotFound:
            return [asset_id]
        keys = [k for f in files if (k := self.store.blobs.key_for_url(str(f.get("asset_file_url", ""))))]
        return self.store.blobs.missing(keys)

    def _clean(self, bucket: str, uid: str, generation: int, asset_id: str) -> None:
        """Blobs of earlier generations that the registered asset does not point at."""
        keep: set[str] = set()
        try:
            if self.store.made_by(asset_id, uid):
                files = self.store.registry.get(asset_id).document.get("files") or []
                keep = {k for f in files if (k := self.store.blobs.key_for_url(str(f.get("asset_file_url", ""))))}
        except AssetNotFound:
            pass
        try:
            folder = source_folder(bucket, uid)
            for blob in list(self.store.blobs.listing(folder)):
                if blob.key not in keep and not blob.key.startswith(f"{folder}g{generation}/"):
                    self.store.blobs.delete(blob.key)
        except BackendUnavailable as exc:
            raise SourceFailed("cleanup_error", exc.message) from None

    def _import(
        self, asset_id: str, uid: str, generation: int, spec: Document, written: list[str], tick: Callable[[], None]
    ) -> list[dict[str, Any]]:
        folder = f"{source_folder(spec['bucket'], uid)}g{generation}/"
        gatherer = Gatherer(self.store.blobs, self.fetcher, self.limits, lambda name: folder + name, written, tick)
        mode, url = spec["mode"], spec["url"]
        if mode == "single":
            gathered = gatherer.single(url)
        elif mode == "package":
            gathered = gatherer.package(url, spec["filter"], f"staging/source-{uid}-g{generation}.pkg")
        else:
            gathered = gatherer.index(url, spec["filter"])
        if not gathered.plan.members:
            raise SourceFailed("package_invalid", "no file of the source matched its filter")
        document = completed(self._document(asset_id, spec, gathered), gathered.plan, gathered.stored)
        registry = self.store.registry
        registry.validate(document)
        steps = self.store.steps.steps(spec["services"])
        document, mutated, _replaced = mutate_files(
            document, self.store.blobs, steps.mutators, self.limits.max_unpacked_bytes, tick
        )
        written += mutated
        if mutated:
            registry.validate(document)
        check_files(document, self.store.blobs, steps.checkers, tick)
        document = describe_files(document, self.store.blobs, steps.describers, steps.batches, tick)
        try:
            ours = self.store.made_by(asset_id, uid)
        except AssetNotFound:
            registry.create(document, own_keys=written)
        else:
            if not ours:
                raise SourceFailed("asset_exists", f"an asset {asset_id!r} exists that no source made; delete it first")
            registry.replace(asset_id, document, own_keys=written)
        return [
            {"name": f["asset_file_id"], "size": f["asset_file_metadata"].get("size"),
             "sha256": f["asset_file_metadata"].get("sha256"), "url": f["asset_file_url"]}
            for f in document["files"]
        ]  # fmt: skip

    def _document(self, asset_id: str, spec: Document, gathered: Gathered) -> Document:
        if gathered.asset_json is not None:
            try:
                document = parse_json(gathered.asset_json)
            except InvalidInput as exc:
                raise SourceFailed("asset_invalid", f"asset.json is not JSON: {exc.message}") from None
            if not isinstance(document, dict):
                raise SourceFailed("asset_invalid", "asset.json must hold a JSON object")
            if document.get("asset_id", asset_id) != asset_id:
                raise SourceFailed(
                    "asset_invalid", f"asset.json is for {document.get('asset_id')!r}, the source for {asset_id!r}"
                )
            document = {**document, "asset_id": asset_id}
            check_listed_files(document, gathered.plan)
            return document
        document = {**msgspec.json.decode(msgspec.json.encode(spec["asset"])), "asset_id": asset_id}
        if gathered.metadata:
            document["files"] = [
                {"asset_file_id": path, "asset_file_metadata": metadata} for path, metadata in gathered.metadata.items()
            ]
        return document


def _reason_of(exc: Exception, asset_id: str) -> tuple[str, str]:
    if isinstance(exc, SourceFailed):
        return exc.reason, exc.message
    if isinstance(exc, FetchFailed):
        return exc.reason, f"fetching {exc.url} failed: {exc.what}"
    if isinstance(exc, BundleRejected):
        return "package_invalid", exc.reason
    if isinstance(exc, StepRefused):
        return exc.code, exc.reason.split(": ", 1)[1] if ": " in exc.reason else exc.reason
    if isinstance(exc, InvalidAsset):
        return "asset_invalid", exc.message
    if isinstance(exc, PluginFailed):
        return "plugin_failed", f"{exc.plugin}: {exc.reason}"
    if isinstance(exc, BackendUnavailable):
        return "upload_failed", exc.message
    log.exception("source %s: the import failed unexpectedly", asset_id)
    return "server_error", "the server failed while importing; it has been logged"
