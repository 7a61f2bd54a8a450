"""The ``redis`` plugin: upload jobs in Redis, shared by every server and worker process.

``jobs = redis://[[user]:password@]host:6379/0`` (``rediss://`` for TLS). Each job's status
is the seed's ``UPLOAD_STATUS:<upload_id>`` key, holding ``queued``, ``processing``,
``success`` or ``failed: <reason>``; a Redis stream read through a consumer group hands the
jobs to workers under leases (see ``jobs.py`` for why).

This module imports without redis-py, so the plugin is always listed; the client library
is needed only when a ``redis://`` URL is configured (``pip install 'assets-registry[redis]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assets_registry.adapters.redis.options import OPTIONS, tracker_options
from assets_registry.core.errors import ConfigurationError
from assets_registry.plugins import AdapterContext, AdapterSpec, hookimpl

if TYPE_CHECKING:
    from assets_registry.adapters.redis.jobs import RedisJobTracker

INSTALL_HINT = "pip install 'assets-registry[redis]'"


def make_job_tracker(context: AdapterContext) -> RedisJobTracker:
    """Build the tracker for ``context.url``; it connects lazily (``serve`` and ``worker`` ping it before starting)."""
    options = tracker_options(context.url)
    try:
        from assets_registry.adapters.redis.jobs import RedisJobTracker, connect
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != "redis":
            raise
        raise ConfigurationError(
            f"The job tracker {context.url} needs the Redis client library: {INSTALL_HINT}"
        ) from None
    return RedisJobTracker(connect(options), options)


@hookimpl
def assets_registry_adapters() -> list[AdapterSpec]:
    summary = (
        "Upload jobs in Redis, shared by every server and worker process: the status under the seed's "
        "UPLOAD_STATUS:<upload_id> key, the queue a stream read through a consumer group "
        "(redis://[:password@]host:6379/0)."
    )
    return [
        AdapterSpec(port="jobs", scheme="redis", factory=make_job_tracker, summary=summary, options=OPTIONS),
        AdapterSpec(
            port="jobs",
            scheme="rediss",
            factory=make_job_tracker,
            summary="The same over TLS (rediss://[:password@]host:6380/0?ssl_ca_certs=/path/ca.pem).",
            options=OPTIONS,
        ),
    ]


__all__ = ["INSTALL_HINT", "assets_registry_adapters", "make_job_tracker"]
