"""``GET /metrics``: Prometheus text, read back with prometheus-client's own parser; on a served
registry the counts are those of every worker process, whichever process answers the scrape."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from falcon import testing
from prometheus_client.parser import text_string_to_metric_families

from assets_registry.apps.container import Services
from assets_registry.apps.http import create_app
from assets_registry.testing import bundle_asset, write_bundle
from tests.served import served_registry


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_registry(tmp_path_factory.mktemp("metrics"), 1, 2) as (served,):
        yield served


def test_requests_are_counted_across_the_server_processes(url: str) -> None:
    with httpx.Client(base_url=url) as client:
        for n in range(40):
            assert client.get(f"/query/by-id/missing-{n}").status_code == 404
        for _ in range(6):  # scrapes land on either process: each answers for both
            scrape = client.get("/metrics")
            assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
            samples = _samples(scrape.text)
            by_id = {"method": "GET", "route": "/query/by-id/{asset_id}", "status": "404"}
            assert _value(samples, "assets_registry_http_requests_total", **by_id) == 40
            assert _value(samples, "assets_registry_http_request_seconds_count", method="GET",
                          route="/query/by-id/{asset_id}") == 40  # fmt: skip
        assert not any("missing-" in key[0] or any("missing-" in v for _, v in key[1]) for key in samples), (
            "a path's ids are never labels"
        )


def test_upload_jobs_and_bytes_are_measured(url: str, tmp_path: Path) -> None:
    bundle = tmp_path / "b.zip"
    write_bundle(bundle, bundle_asset("measured"), {"a.bin": b"a" * 50_000})
    with httpx.Client(base_url=url) as client:
        with bundle.open("rb") as source:
            upload_id = client.post("/zip/upload", files={"file": ("b.zip", source, "application/zip")}).json()[
                "upload_id"
            ]
        deadline = time.monotonic() + 30
        while client.get(f"/zip/status/{upload_id}").json()["status"] in ("queued", "processing"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # The job's end is counted just after its status says so: give it a moment.
        deadline = time.monotonic() + 30
        while _value(samples := _samples(client.get("/metrics").text), "assets_registry_jobs_ended_total",
                     reason="uploaded") < 1 and time.monotonic() < deadline:  # fmt: skip
            time.sleep(0.1)
    assert _value(samples, "assets_registry_jobs_ended_total", reason="uploaded") == 1
    assert _value(samples, "assets_registry_job_seconds_count") == 1
    assert _value(samples, "assets_registry_http_request_bytes_total", route="/zip/upload") > bundle.stat().st_size


def test_open_upload_jobs_are_counted_by_state_at_each_scrape(services: Services) -> None:
    """Read from the job tracker (SQLite, or Redis shared by every process and host)."""
    client = testing.TestClient(create_app(services))

    def jobs() -> dict[str, float]:
        samples = _samples(client.simulate_get("/metrics").text)
        return {
            state: _value(samples, "assets_registry_upload_jobs", state=state) for state in ("queued", "processing")
        }

    before = jobs()
    for n in range(3):
        services.jobs.submit(f"metrics-open-{n}", f"staging/metrics-open-{n}.zip")
    assert services.jobs.claim("metrics-worker", 60) is not None
    assert jobs() == {"queued": before["queued"] + 2, "processing": before["processing"] + 1}
