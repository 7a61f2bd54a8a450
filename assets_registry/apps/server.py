"""``assets-registry serve``: the WSGI app under granian (``apps.granian_server``, the default)
or gunicorn's threaded workers (``http_server = "gunicorn"``), several processes and threads.

The configuration is checked once in the master before any worker starts (plugins load,
every backend is built and answers), so a mistake stops start-up with a sentence instead
of a crash loop. Each worker then builds its own container after ``fork()``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from gunicorn.app.base import BaseApplication

from assets_registry.adapters.bucket_stores import BucketStores
from assets_registry.apps import granian_server
from assets_registry.apps.container import build_container
from assets_registry.apps.http import create_app
from assets_registry.apps.logs import server_logging, write_access_lines_in_background
from assets_registry.apps.metrics import forget_process_files, process_ended, use_process_files
from assets_registry.apps.settings import Settings
from assets_registry.apps.workers import BundleWorkers, SourceControllers, Sweeps
from assets_registry.core.bucket_names import DEFAULT_BUCKET
from assets_registry.core.errors import ConfigurationError
from assets_registry.core.history import HistoryStore
from assets_registry.core.ports import BlobStore, CatalogStore, JobTracker, MetadataStore


def check_setup(settings: Settings) -> None:
    """Build everything once and ask each backend to answer; raise with the reason if not."""
    container = build_container(settings)
    built: list[MetadataStore | BlobStore | JobTracker | CatalogStore | HistoryStore] = []
    try:
        for provider in (container.metadata, container.blobs, container.jobs, container.catalog, container.history):
            part = provider()
            if part is None:  # a metadata store without history
                continue
            built.append(part)
            part.check()
        blobs = built[1]
        if isinstance(blobs, BucketStores):  # a bucket_blobs_url that cannot open a store fails here, not later
            blobs.store_of(DEFAULT_BUCKET).check()
            catalog = built[3]
            assert isinstance(catalog, CatalogStore)
            check_no_stranded_buckets(blobs, catalog)
        container.services()
    finally:
        for part in built:
            part.close()


def check_no_stranded_buckets(blobs: BucketStores, catalog: CatalogStore) -> None:
    """Refuse ``bucket_blobs_url`` while the main store still holds a bucket's files (set on a
    registry that kept buckets as prefixes): they would be out of every bucket's reach."""
    after: str | None = None
    while page := catalog.records("buckets", 500, after):
        for record in page:
            folder = f"assets/b.{record.key}/"
            if any(not blob.key.endswith("/.bucket") for blob in blobs.main.listing(folder)):
                raise ConfigurationError(
                    f"bucket_blobs_url is set, but the blob store still holds files of the bucket {record.key!r} "
                    f"({folder}): copy them into that bucket's own store first (the same keys), or unset "
                    "bucket_blobs_url. See docs/asset-store.md#buckets."
                )
        after = page[-1].key


class RegistryServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": self.settings.bind,
            "workers": self.settings.workers,
            "threads": self.settings.threads,
            "worker_class": "gthread",
            "accesslog": None,  # the app writes them (apps.logs.RequestLog)
            "errorlog": "-",
            "logconfig_dict": server_logging(self.settings.log_format),
            "timeout": 120,
            "graceful_timeout": 30,
            "keepalive": 5,
            "limit_request_line": 8190,  # long API routes and cursors fit
            "proc_name": "assets-registry",
            "child_exit": lambda _arbiter, worker: process_ended(worker.pid),
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return load_app(self.settings, background=True)


def load_app(settings: Settings, background: bool) -> Any:
    """Build this server process's services, start its job threads (with ``background``), and
    return the app; called in each process after its fork."""
    if settings.access_log:
        write_access_lines_in_background(settings.log_format)
    services = build_container(settings).services()
    workers = BundleWorkers(services.bundles, settings.job_threads)
    if background and settings.job_threads and settings.routes != "read":
        workers.start()
        Sweeps(services.janitor, settings.gc_interval_seconds).start()
    if background and settings.source_threads and settings.routes != "read":
        SourceControllers(
            services.imports, settings.source_threads, bucket_check_seconds=settings.bucket_check_seconds
        ).start()
    return create_app(services, settings.routes, on_queued=workers.wake)


def check_exposure(settings: Settings) -> None:
    """Refuse to let anyone on a network change every asset by accident: with ``auth=off``, only
    loopback addresses are bound unless ``allow_anonymous`` says that is meant."""
    if settings.auth != "off" or settings.allow_anonymous:
        return
    exposed = [bind for bind in settings.bind if not _loopback(bind.rpartition(":")[0])]
    if exposed:
        raise ConfigurationError(
            f"serve would bind {', '.join(exposed)} with auth=off: anyone who reaches it could change or delete "
            "every asset. Set ASSETS_AUTH=tokens (and make tokens with `assets-registry tokens create`), bind "
            "127.0.0.1, or pass --allow-anonymous if the network in front of it is trusted."
        )


def _loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve anywhere


def serve(settings: Settings) -> None:
    check_exposure(settings)
    check_setup(settings)
    use_process_files()  # before any process imports prometheus-client: /metrics sums them all
    try:
        if settings.http_server == "gunicorn":
            RegistryServer(settings).run()
        else:
            granian_server.run(settings, lambda background: load_app(settings, background))
    finally:
        forget_process_files()
