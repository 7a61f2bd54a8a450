"""``/healthz`` (the process answers) and ``/readyz`` (every configured backend answers)."""

from __future__ import annotations

import falcon

from assets_registry.apps.container import Services
from assets_registry.apps.http.bodies import send_json
from assets_registry.core.errors import BackendUnavailable
from assets_registry.core.ports import BlobStore, JobTracker, MetadataStore


class HealthResource:
    open_to_all = True  # load balancers ask without a token

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, {"status": "ok"})


class ReadinessResource:
    open_to_all = True

    def __init__(self, services: Services) -> None:
        self.parts: dict[str, MetadataStore | BlobStore | JobTracker] = {
            "metadata": services.registry.store,
            "blobs": services.blobs,
            "jobs": services.jobs,
        }

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        report: dict[str, str] = {}
        for name, part in self.parts.items():
            try:
                part.check()
                report[name] = "ok"
            except BackendUnavailable as exc:
                report[name] = exc.message
        ready = all(v == "ok" for v in report.values())
        if not ready:
            resp.set_header("Retry-After", "5")
        send_json(resp, {"status": "ready" if ready else "unavailable", "backends": report}, 200 if ready else 503)
