"""Prometheus metrics, correct across the server's worker processes (prometheus-client).

``serve`` and ``worker`` call ``use_process_files()`` before anything imports prometheus-client:
each process then writes its values to files in one folder (``PROMETHEUS_MULTIPROC_DIR``, a
fresh one per start unless set), and ``GET /metrics`` sums every process's files, so any
process answers for all. Without it (tests, a bare app) values live in the process.

- ``assets_registry_http_requests_total{method, route, status}`` and
  ``assets_registry_http_request_seconds{method, route}`` (``route`` is the route template,
  never the raw path, so ids do not explode the series);
- ``assets_registry_http_request_bytes_total`` / ``…_response_bytes_total{route}``: bodies in
  and out, as their lengths say (a streamed answer of unknown length counts when it is known);
- ``assets_registry_jobs_ended_total{reason}`` and ``assets_registry_job_seconds``: upload jobs
  run by this process, by the reason they ended with;
- ``assets_registry_upload_jobs{state}``: upload jobs queued and processing, read from the job
  tracker at each scrape;
- ``assets_registry_backend_errors_total{backend}``: answers that were a backend's 503.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from functools import cache
from typing import Any

import falcon

_DIR = "PROMETHEUS_MULTIPROC_DIR"
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def use_process_files() -> str:
    """Point prometheus-client at a folder of per-process files (before it is imported); the folder."""
    folder = os.environ.get(_DIR)
    if not folder:
        folder = tempfile.mkdtemp(prefix="assets-registry-metrics-")
        os.environ[_DIR] = folder
    return folder


def process_ended(pid: int) -> None:
    """A worker process exited: its live gauges stop counting (its counters stay in the sums)."""
    if os.environ.get(_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def forget_process_files() -> None:
    folder = os.environ.get(_DIR, "")
    if folder.startswith(tempfile.gettempdir()) and "assets-registry-metrics-" in folder:
        shutil.rmtree(folder, ignore_errors=True)


_MAKING = threading.Lock()


def _metrics() -> dict[str, Any]:
    """The metric objects, made once, on first use (after a worker's fork, in its own files).

    Made under a lock: a request thread and a job thread using them first at the same moment
    would otherwise both register them, and one would fail (``DuplicateTimeseries``; seen as a
    job end that was never counted)."""
    with _MAKING:
        return _made_metrics()


@cache
def _made_metrics() -> dict[str, Any]:
    from prometheus_client import Counter, Histogram

    return {
        "requests": Counter("assets_registry_http_requests", "HTTP requests answered", ["method", "route", "status"]),
        "seconds": Histogram(
            "assets_registry_http_request_seconds", "Time to answer", ["method", "route"], buckets=_SECONDS
        ),
        "bytes_in": Counter("assets_registry_http_request_bytes", "Request body bytes", ["route"]),
        "bytes_out": Counter("assets_registry_http_response_bytes", "Response body bytes", ["route"]),
        "jobs": Counter("assets_registry_jobs_ended", "Upload jobs ended, by reason", ["reason"]),
        "job_seconds": Histogram("assets_registry_job_seconds", "Time an upload job took", buckets=_SECONDS),
        "backend_errors": Counter("assets_registry_backend_errors", "Answers that were a backend's 503", ["backend"]),
    }


def job_ended(reason: str, seconds: float) -> None:
    metrics = _metrics()
    metrics["jobs"].labels(reason=reason).inc()
    metrics["job_seconds"].observe(seconds)


def backend_failed(backend: str) -> None:
    _metrics()["backend_errors"].labels(backend=backend).inc()


class RequestMetrics:
    """Falcon middleware: every request counted and timed by its route template."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: Any, succeeded: bool) -> None:
        seconds = elapsed(req)
        if seconds is None:
            return
        route = req.uri_template or ("unmatched" if resource is None else "sink")
        requests, timed, bytes_in, sent_bytes = _route_series(req.method, route, resp.status_code)
        requests.inc()
        timed.observe(seconds)
        if req.content_length:
            bytes_in.inc(req.content_length)
        if sent := bytes_out(resp):
            sent_bytes.inc(sent)


@cache
def _route_series(method: str, route: str, status: int) -> tuple[Any, Any, Any, Any]:
    """The series one kind of answer counts in, looked up once (``labels()`` costs a few µs a
    call); their number is bounded by routes x methods x statuses."""
    metrics = _metrics()
    return (
        metrics["requests"].labels(method=method, route=route, status=str(status)),
        metrics["seconds"].labels(method=method, route=route),
        metrics["bytes_in"].labels(route=route),
        metrics["bytes_out"].labels(route=route),
    )


def elapsed(req: falcon.Request) -> float | None:
    """Seconds since ``RequestMetrics`` saw the request come in (None if it did not)."""
    started = getattr(req.context, "started", None)
    return None if started is None else time.perf_counter() - started


def bytes_out(resp: falcon.Response) -> int:
    """The answer body's length, as far as it is known (a stream of unknown length: 0)."""
    if resp.content_length is not None:
        return int(resp.content_length)
    return len(resp.data) if resp.data is not None else 0


class MetricsResource:
    """``GET /metrics``: the Prometheus text format, summed over every process of this server,
    and the job tracker's open jobs by state, read at each scrape (one answer for every
    process and host that share the tracker, so no process sums them)."""

    def __init__(self, jobs: object = None) -> None:  # a JobTracker; counted if it is CountsOpenJobs
        self.jobs = jobs

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

        _metrics()
        registry: Any = REGISTRY
        if os.environ.get(_DIR):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest(registry) + self._open_jobs()

    def _open_jobs(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import GaugeMetricFamily

        from assets_registry.core.errors import BackendUnavailable
        from assets_registry.core.ports import CountsOpenJobs

        if not isinstance(self.jobs, CountsOpenJobs):
            return b""
        try:
            counts = self.jobs.open_jobs()
        except BackendUnavailable:
            return b""  # the tracker is down: its backend errors say so; the other metrics still answer
        family = GaugeMetricFamily("assets_registry_upload_jobs", "Upload jobs not ended, by state", labels=["state"])
        for state, count in sorted(counts.items()):
            family.add_metric([state], count)

        class _Now:
            def collect(self) -> list[GaugeMetricFamily]:
                return [family]

        now = CollectorRegistry()
        now.register(_Now())
        return generate_latest(now)
