"""Upload jobs in Redis: the seed's ``UPLOAD_STATUS:<id>`` keys, queued on a Redis stream.

Why a stream with a consumer group, and no queue library: its semantics are the port's.
``XADD`` queues a job; ``XREADGROUP`` hands a message to exactly one consumer (a worker);
the group's pending-entries list records who holds each message and how long it has been
silent; claiming a message again moves it to another worker (a lease taken over) or resets
its idle time (a lease renewed); ``XACK`` + ``XDEL`` end it. RQ or Dramatiq would pickle
function calls and run their own worker loops, bypassing the ``JobTracker`` port that the
workers, the status route and the contract suite are written against.

Every state change is one Lua script (``scripts.py``), so it is atomic across processes and
hosts; nothing lives in process memory, so any number of server and worker processes share
the jobs and a restarted one sees them all. Needs Redis >= 6.2 (one server or a primary
with replicas; not Redis Cluster, whose scripts may not touch keys they did not declare).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import msgspec
import redis
from redis import exceptions as redis_errors
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from assets_registry.adapters.redis.options import TrackerOptions
from assets_registry.adapters.redis.scripts import SCRIPTS
from assets_registry.core.errors import BackendUnavailable, ConfigurationError, Conflict, JobNotFound
from assets_registry.core.ports import PROCESSING, QUEUED, UploadJob

BACKEND = "job tracker (Redis)"

_CLIENT_DEFAULTS: dict[str, Any] = {
    # A stopped or unreachable server answers within seconds, never hangs a request.
    "socket_connect_timeout": 5.0,
    "socket_timeout": 5.0,
    # A pooled connection idle this long is checked first: one a restarted server dropped
    # is replaced before a command is lost on it.
    "health_check_interval": 30,
    "client_name": "assets-registry-jobs",
}
# Redis errors that mean "not answering now": the request may work later. Others are bugs.
_UNAVAILABLE: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError,  # refused, reset, auth failed, still loading its data
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,  # a replica, during a failover
    redis_errors.OutOfMemoryError,
    redis_errors.NoPermissionError,
    redis_errors.ClusterDownError,  # also MASTERDOWN
)


def connect(options: TrackerOptions) -> redis.Redis:
    """A client (and its connection pool) for ``options.client_url``; nothing is sent yet.

    Options in the URL win over the defaults above (``?socket_timeout=1``). One connection
    object is built (not connected) so that an option redis-py does not take is refused
    now, with the configuration, rather than at the first command.
    """
    try:
        client = redis.Redis.from_url(
            options.client_url,
            decode_responses=True,
            # Retry only a connection refused or reset, where the command most likely did not
            # run (submit carries a token, so a repeated one finds its own job); a command
            # that timed out may have run, and is not repeated.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2, supported_errors=(redis_errors.ConnectionError,)),
            **_CLIENT_DEFAULTS,
        )
        pool = client.connection_pool
        pool.connection_class(**pool.connection_kwargs)
    except (ValueError, TypeError) as exc:
        problem = str(exc).rstrip(".")
        raise ConfigurationError(
            f"The Redis job tracker URL cannot be used: {problem} (our own options: prefix, stream, group, ttl)."
        ) from None
    return client


class RedisJobTracker:
    """``core.ports.JobTracker`` on Redis: a stream and consumer group, two keys per job."""

    def __init__(self, client: redis.Redis, options: TrackerOptions) -> None:
        self.client = client
        self.options = options
        self._scripts = {name: client.register_script(text) for name, text in SCRIPTS.items()}
        password = client.connection_pool.connection_kwargs.get("password")
        self._secret = str(password) if password else None

    def submit(self, upload_id: str, staged_key: str) -> UploadJob:
        keys = self._keys(upload_id)
        with self._answering():
            created = self._scripts["submit"](keys, [upload_id, staged_key, uuid.uuid4().hex])
        if created is None:
            raise Conflict(f"An upload with the id {upload_id!r} already exists.")
        return UploadJob(upload_id, QUEUED, staged_key, created_at=float(created), updated_at=float(created))

    def get(self, upload_id: str) -> UploadJob:
        with self._answering():
            pipe = self.client.pipeline(transaction=True)  # one consistent reading of both keys
            pipe.get(self.options.status_key(upload_id))
            pipe.hgetall(self.options.job_key(upload_id))
            status, fields = pipe.execute()
        if status is None:
            raise JobNotFound(upload_id)
        return _job(upload_id, str(status), cast(dict[str, str], fields))

    def claim(self, worker: str, lease_seconds: float) -> UploadJob | None:
        args = [self.options.group, worker, _milliseconds(lease_seconds), self.options.prefix]
        with self._answering():
            reply = self._scripts["claim"]([self.options.stream_key], args)
            if reply == 1:  # the group was gone (deleted, or with its stream): made again
                self._requeue_lost()
                reply = self._scripts["claim"]([self.options.stream_key], args)
        if not isinstance(reply, list):
            return None
        upload_id, *flat = cast(list[str], reply)
        return _job(upload_id, "processing", dict(zip(flat[::2], flat[1::2], strict=True)))

    def _requeue_lost(self) -> None:
        """Queue again every unfinished job whose stream message was deleted (with the stream).

        Rare (an operator deleted the stream, or an eviction policy dropped it), so a SCAN of
        the job keys is affordable; without it those jobs would stay ``queued`` for ever.
        """
        pattern = _glob_escape(self.options.job_key("")) + "*"
        for key in self.client.scan_iter(match=pattern, count=1000):
            upload_id = str(key)[len(self.options.job_key("")) :]
            self._scripts["requeue"](self._keys(upload_id), [upload_id])

    def renew(self, upload_id: str, worker: str, lease_seconds: float, progress: dict[str, Any] | None = None) -> bool:
        encoded = "" if progress is None else msgspec.json.encode(progress).decode()
        args = [self.options.group, worker, _milliseconds(lease_seconds), encoded]
        with self._answering():
            return bool(self._scripts["renew"](self._keys(upload_id), args))

    def finish(self, upload_id: str, worker: str, status: str, asset_id: str | None = None) -> bool:
        ttl = "" if self.options.ttl is None else str(self.options.ttl)
        args = [self.options.group, worker, status, asset_id or "", ttl]
        with self._answering():
            return bool(self._scripts["finish"](self._keys(upload_id), args))

    def check(self) -> None:
        with self._answering():
            self.client.ping()

    def open_jobs(self) -> dict[str, int]:
        """Every job on the stream waits or runs (``finish`` deletes its message); those the
        group has handed out and not acknowledged run."""
        with self._answering():
            pipe = self.client.pipeline(transaction=True)  # one reading of both
            pipe.xlen(self.options.stream_key)
            pipe.xpending(self.options.stream_key, self.options.group)
            length, pending = pipe.execute(raise_on_error=False)
        if isinstance(length, Exception):
            raise length
        waiting = int(length)
        running = 0 if isinstance(pending, Exception) else int(pending["pending"])  # no group yet: none handed out
        return {QUEUED: max(waiting - running, 0), PROCESSING: running}

    def close(self) -> None:
        self.client.close()

    def _keys(self, upload_id: str) -> list[str]:
        return [self.options.stream_key, self.options.status_key(upload_id), self.options.job_key(upload_id)]

    @contextmanager
    def _answering(self) -> Iterator[None]:
        """Turn "Redis is not answering" into ``BackendUnavailable``, saying why but never the password."""
        try:
            yield
        except _UNAVAILABLE as exc:
            raise BackendUnavailable(BACKEND, self._detail(exc)) from None
        except redis_errors.ResponseError as exc:
            if not str(exc).startswith("BUSY"):  # a long script of someone else's blocks the server
                raise
            raise BackendUnavailable(BACKEND, self._detail(exc)) from None

    def _detail(self, exc: Exception) -> str:
        text = " ".join(str(exc).split()) or "no answer"
        if self._secret:
            text = text.replace(self._secret, "***")
        text = text if len(text) <= 160 else text[:157] + "..."
        return f"{type(exc).__name__}: {text}"


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def _milliseconds(seconds: float) -> str:
    return str(max(0, math.ceil(seconds * 1000)))


def _job(upload_id: str, status: str, fields: dict[str, str]) -> UploadJob:
    progress = fields.get("progress")
    return UploadJob(
        upload_id=upload_id,
        status=status,
        staged_key=fields.get("staged_key", ""),
        asset_id=fields.get("asset_id") or None,
        attempts=int(fields.get("attempts", 0)),
        progress=msgspec.json.decode(progress) if progress else None,
        created_at=float(fields.get("created_at", 0.0)),
        updated_at=float(fields.get("updated_at", 0.0)),
    )
