"""The composition root: settings -> plugins -> adapters -> use cases, in one container.

Nothing is built at import time. ``build_container(settings)`` wires providers; the first
call to a provider builds what it needs, once per process (a server worker builds its own
after ``fork()``, so no connection crosses processes). Tests override providers with fakes
(``container.metadata.override(providers.Object(fake))``) instead of patching.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from dependency_injector import containers, providers

from assets_registry.adapters.bucket_stores import PLACEHOLDER, BucketStores
from assets_registry.adapters.fetch import HttpFetcher
from assets_registry.adapters.webhooks import make_services
from assets_registry.apps.memory import release_free_memory
from assets_registry.apps.settings import Settings
from assets_registry.core.access import Tokens
from assets_registry.core.bundles import BundleLimits, Bundles, JobSettings
from assets_registry.core.bundles.janitor import Janitor
from assets_registry.core.errors import ConfigurationError, RecordNotFound
from assets_registry.core.history import HistoryStore
from assets_registry.core.pagination import PageLimits
from assets_registry.core.ports import BlobStore, CatalogStore, JobTracker, Validator
from assets_registry.core.registry import Registry
from assets_registry.core.sources import AssetStore, SourceImports
from assets_registry.plugins.guards import GuardedExtractor, GuardedMutator, GuardedValidator
from assets_registry.plugins.manager import Adapter, Plugins
from assets_registry.plugins.types import AdapterContext, BackendURL, PortName

log = logging.getLogger(__name__)


def load_plugins(settings: Settings, tolerant: bool = False) -> Plugins:
    """The entry-point plugins minus the settings' ``disable_plugins`` (``ASSETS_DISABLE_PLUGINS``)."""
    return Plugins.load(blocked=settings.disable_plugins, tolerant=tolerant)


def make_adapter(plugins: Plugins, port: PortName, url: str, settings: Settings) -> Adapter:
    """Build the adapter the URL's scheme names (``Plugins.make_adapter`` checks it implements the port)."""
    return plugins.make_adapter(port, _context(url, settings))


def make_blobs(plugins: Plugins, settings: Settings, catalog: CatalogStore) -> BlobStore:
    """The blob store; with ``bucket_blobs_url``, one more per registry bucket (``BucketStores``)."""
    main = plugins.make_adapter("blobs", _context(settings.blobs_url, settings))
    template = settings.bucket_blobs_url
    if not template:
        return main

    def open_store(bucket: str) -> BlobStore:
        return plugins.make_adapter("blobs", _context(template.replace(PLACEHOLDER, bucket), settings))

    def bucket_names() -> Iterator[str]:
        after: str | None = None
        while page := catalog.records("buckets", 500, after):
            yield from (record.key for record in page)
            after = page[-1].key

    def bucket_exists(bucket: str) -> bool:
        try:
            catalog.get("buckets", bucket)
        except RecordNotFound:
            return False
        return True

    return BucketStores(main, open_store, bucket_names, bucket_exists)


def auth_key(settings: Settings) -> bytes:
    """The key tokens are hashed with: ``auth_key``, else ``<data_dir>/auth.key`` (made once, mode 0600).

    Every process that checks tokens must have the same key: on one host they share the data
    dir; across hosts, give them ``ASSETS_AUTH_KEY``.
    """
    given = settings.auth_key.get_secret_value()
    if given:
        return given.encode()
    path = settings.data_dir / "auth.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".auth.key.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(draft, path)  # appears whole, or not at all: a racing process keeps the first key
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_bytes().strip()
    if len(key) < 32:
        raise ConfigurationError(f"The token key in {path} is missing or too short; delete it to make a new one.")
    return key


def make_history(plugins: Plugins, settings: Settings) -> HistoryStore | None:
    """The history beside the metadata store; None (no audit trail, no revisions) for a metadata
    plugin that offers no history adapter for its scheme."""
    url = BackendURL(settings.metadata_url)
    if url.scheme not in plugins.schemes("history"):
        log.warning("the %s:// metadata store has no history adapter: no audit trail or revisions are kept", url.scheme)
        return None
    return plugins.make_adapter("history", _context(settings.metadata_url, settings))


def make_tokens(settings: Settings, catalog: CatalogStore, history: HistoryStore | None) -> Tokens:
    return Tokens(catalog, auth_key(settings), history=history)


def _context(url: str, settings: Settings) -> AdapterContext:
    return AdapterContext(url=BackendURL(url), data_dir=settings.data_dir, environ=dict(os.environ))


def make_validators(plugins: Plugins, settings: Settings) -> list[Validator]:
    return plugins.validators(dict(settings.validators))


def file_validators(validators: list[Validator]) -> list[GuardedValidator]:
    """The validators that also read file bytes (``validate_file``)."""
    return [v for v in validators if isinstance(v, GuardedValidator) and v.checks_files]


def make_extractors(plugins: Plugins, settings: Settings) -> list[GuardedExtractor]:
    return plugins.extractors(dict(settings.validators))


def make_mutators(plugins: Plugins, settings: Settings) -> list[GuardedMutator]:
    return plugins.mutators(dict(settings.validators))


@dataclass(frozen=True, eq=False)  # one bundle of live connections: compared (and hashed) by identity
class Services:
    """What the HTTP app and the workers use; each field a port or a use case."""

    settings: Settings
    registry: Registry
    blobs: BlobStore
    jobs: JobTracker
    bundles: Bundles
    janitor: Janitor
    asset_store: AssetStore
    imports: SourceImports
    tokens: Tokens

    def __post_init__(self) -> None:
        # Upload jobs into a named bucket register only while it is Ready (a delete may be under way).
        self.bundles.ingest.bucket_open = self.asset_store.bucket_open

    def close(self) -> None:
        self.janitor.drain()  # the blobs of versions just replaced go before the connections do
        for part in (self.registry.store, self.blobs, self.jobs, self.asset_store.catalog, self.registry.history):
            if part is not None:
                part.close()


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    plugins = providers.Singleton(load_plugins, settings)
    metadata = providers.Singleton(make_adapter, plugins, "metadata", settings.provided.metadata_url, settings)
    catalog = providers.Singleton(make_adapter, plugins, "catalog", settings.provided.catalog_store_url, settings)
    history = providers.Singleton(make_history, plugins, settings)
    blobs = providers.Singleton(make_blobs, plugins, settings, catalog)
    jobs = providers.Singleton(make_adapter, plugins, "jobs", settings.provided.jobs_url, settings)
    validators = providers.Singleton(make_validators, plugins, settings)
    extractors = providers.Singleton(make_extractors, plugins, settings)
    mutators = providers.Singleton(make_mutators, plugins, settings)
    checkers = providers.Singleton(file_validators, validators)
    webhooks = providers.Singleton(make_services, settings.provided.services)
    page_limits = providers.Singleton(
        PageLimits, default=settings.provided.page_default, maximum=settings.provided.page_max
    )
    registry = providers.Singleton(
        Registry,
        store=metadata,
        validators=validators,
        page_limits=page_limits,
        blob_key=blobs.provided.key_for_url,
        history_store=history,
        keep_revisions=settings.provided.keep_revisions,
        keep_revision_days=settings.provided.keep_revision_days,
    )
    bundle_limits = providers.Singleton(
        BundleLimits,
        max_upload_bytes=settings.provided.max_upload_bytes,
        max_unpacked_bytes=settings.provided.max_unpacked_bytes,
        max_members=settings.provided.max_members,
        max_ratio=settings.provided.max_ratio,
        max_asset_json_bytes=settings.provided.max_asset_json_bytes,
    )
    job_settings = providers.Singleton(
        JobSettings, lease_seconds=settings.provided.lease_seconds, max_attempts=settings.provided.max_attempts
    )
    bundles = providers.Singleton(
        Bundles,
        registry=registry,
        blobs=blobs,
        jobs=jobs,
        limits=bundle_limits,
        job_settings=job_settings,
        early_unpack=settings.provided.early_unpack,
        release_memory=release_free_memory,
        describers=extractors,
        reshapers=mutators,
        checkers=checkers,
        services=webhooks,
    )
    janitor = providers.Singleton(
        Janitor,
        registry=registry,
        blobs=blobs,
        jobs=jobs,
        grace_seconds=settings.provided.gc_grace_seconds,
        resumable_expiry_seconds=settings.provided.upload_expiry_seconds,
    )
    fetcher = providers.Singleton(
        HttpFetcher,
        allow_private=settings.provided.sources_allow_private_networks,
        timeout=settings.provided.source_fetch_timeout,
        max_redirects=settings.provided.source_max_redirects,
    )
    asset_store = providers.Singleton(
        AssetStore, catalog=catalog, blobs=blobs, registry=registry, steps=bundles.provided.ingest.catalog
    )
    imports = providers.Singleton(
        SourceImports,
        store=asset_store,
        fetcher=fetcher,
        limits=bundle_limits,
        lease_seconds=settings.provided.lease_seconds,
        check_seconds=settings.provided.source_check_seconds,
    )
    tokens = providers.Singleton(make_tokens, settings, catalog, history)
    services = providers.Singleton(
        Services,
        settings=settings,
        registry=registry,
        blobs=blobs,
        jobs=jobs,
        bundles=bundles,
        janitor=janitor,
        asset_store=asset_store,
        imports=imports,
        tokens=tokens,
    )


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)
