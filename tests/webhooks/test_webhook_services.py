"""Webhook services over real loopback HTTP: the reference service of the test kit, Rafter's contract.

Each test runs the embedded registry with services configured as an operator would, uploads
a bundle through the HTTP app, runs its job and reads the job's status and what was stored.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from falcon import testing

from assets_registry.apps.container import Services, build_container
from assets_registry.apps.http import create_app
from assets_registry.apps.settings import load_settings
from assets_registry.core.errors import ConfigurationError
from assets_registry.testing import assert_problem, bundle_asset, bundle_zip, upload_form
from assets_registry.testing.webhooks import ReferenceWebhooks
from tests.stacks import run_jobs, stored_keys

FILES = {"config.json": b'{"password": "secret", "n": 1}\n', "notes/readme.md": b"# notes\nsecret plans\n"}


@pytest.fixture
def webhooks() -> Iterator[tuple[ReferenceWebhooks, str]]:
    service = ReferenceWebhooks()
    with service.serve() as url:
        yield service, url


class Registry:
    """The embedded registry with these services, its HTTP client, and a way to run an upload."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.client = testing.TestClient(create_app(services))

    def upload(self, files: dict[str, bytes], named: str = "", asset_id: str = "hooked") -> testing.Result:
        body, headers = upload_form(bundle_zip(bundle_asset(asset_id), files))
        params = {"services": named} if named else None
        return self.client.simulate_post("/zip/upload", body=body, headers=headers, params=params)

    def run(self, files: dict[str, bytes] = FILES, named: str = "", asset_id: str = "hooked") -> str:
        result = self.upload(files, named, asset_id)
        assert result.status_code == 202, result.text
        run_jobs(self.services)
        status: str = self.client.simulate_get(f"/zip/status/{result.json['upload_id']}").json["status"]
        return status

    def file(self, asset_id: str, path: str) -> tuple[bytes, dict[str, Any]]:
        document = self.services.registry.get(asset_id).document
        entry = next(f for f in document["files"] if f["asset_file_id"] == path)
        key = self.services.blobs.key_for_url(entry["asset_file_url"])
        assert key is not None
        return b"".join(self.services.blobs.read(key)), entry["asset_file_metadata"]


@pytest.fixture
def registry_with(tmp_path: Path) -> Iterator[Any]:
    built: list[Services] = []

    def make(*services: dict[str, Any]) -> Registry:
        settings = load_settings(data_dir=tmp_path / f"var{len(built)}", services=list(services))
        built.append(build_container(settings).services())
        return Registry(built[-1])

    yield make
    for services in built:
        services.close()


def service(name: str, kind: str, endpoint: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "endpoint": endpoint, "retries": 0, "timeout": 10, **more}


def test_an_upload_naming_three_services_stores_the_mutated_bytes_and_their_metadata(
    webhooks: tuple[ReferenceWebhooks, str], registry_with: Any
) -> None:
    reference, url = webhooks
    registry = registry_with(
        service("scrub", "mutation", f"{url}/v1/mutate", parameters={"find": "secret", "replace": "******"}),
        service("check", "validation", f"{url}/v1/validate", parameters={"forbidden": ["virus"]}),
        service("describe", "metadata", f"{url}/v1/metadata", filter=r"\.json$"),
    )
    assert registry.run(named="scrub,check,describe") == "success"
    data, metadata = registry.file("hooked", "config.json")
    assert data == b'{"password": "******", "n": 1}\n'
    assert metadata["size"] == len(data), "the registry measured the mutated file"
    assert metadata["bytes"] == len(data) and metadata["lines"] == 1, "the metadata service saw the mutated bytes"
    readme, readme_metadata = registry.file("hooked", "notes/readme.md")
    assert readme == b"# notes\n****** plans\n"
    assert "bytes" not in readme_metadata, "the metadata service's filter left the readme out"
    routes = [call.route for call in reference.calls]
    assert routes == ["/v1/mutate", "/v1/mutate", "/v1/validate", "/v1/validate", "/v1/metadata"]
    assert reference.calls[0].fields["parameters"] == '{"find": "secret", "replace": "******"}'
    assert not [k for k in stored_keys(registry.services, "assets/") if "~" not in k], "the originals were deleted"


def test_services_not_named_do_not_run_unless_always(
    webhooks: tuple[ReferenceWebhooks, str], registry_with: Any
) -> None:
    reference, url = webhooks
    registry = registry_with(
        service("described", "metadata", f"{url}/v1/metadata", always=True),
        service("scrub", "mutation", f"{url}/v1/mutate", parameters={"find": "secret", "replace": "x"}),
    )
    assert registry.run() == "success"
    assert [call.route for call in reference.calls] == ["/v1/metadata"]
    assert registry.file("hooked", "config.json")[0] == FILES["config.json"]
    assert registry.file("hooked", "config.json")[1]["bytes"] == len(FILES["config.json"])


def test_a_refusal_ends_validation_failed_naming_every_refused_file_and_leaves_nothing(
    webhooks: tuple[ReferenceWebhooks, str], registry_with: Any
) -> None:
    _reference, url = webhooks
    registry = registry_with(service("check", "validation", f"{url}/v1/validate", parameters={"forbidden": ["secret"]}))
    status = registry.run(named="check")
    assert status == (
        "failed: validation_failed: check: config.json: contains the forbidden text 'secret'; "
        "check: notes/readme.md: contains the forbidden text 'secret'"
    )
    assert stored_keys(registry.services, "assets/") == []
    assert_problem(registry.client.simulate_get("/query/by-id/hooked"), 404, "asset_not_found")


def test_a_mutation_refusal_ends_mutation_failed_at_the_first_file(
    webhooks: tuple[ReferenceWebhooks, str], registry_with: Any
) -> None:
    reference, url = webhooks
    registry = registry_with(service("scrub", "mutation", f"{url}/v1/mutate", parameters={"refuse": "secret"}))
    status = registry.run(named="scrub")
    assert status == "failed: mutation_failed: scrub: config.json: contains 'secret', which this service refuses"
    assert len(reference.calls) == 1, "mutation stops at the first refusal"
    assert stored_keys(registry.services, "assets/") == []


@pytest.mark.parametrize(
    ("kind", "route", "reason"),
    [
        ("validation", "validate", "validation_error: svc: config.json: it answered HTTP 500"),
        ("mutation", "mutate", "mutation_error: svc: config.json: it answered HTTP 500"),
        ("metadata", "metadata", "metadata_extraction_failed: svc: it answered HTTP 500"),
    ],
)
def test_an_answer_outside_the_contract_is_an_error_not_a_refusal(
    webhooks: tuple[ReferenceWebhooks, str], registry_with: Any, kind: str, route: str, reason: str
) -> None:
    _reference, url = webhooks
    registry = registry_with(service("svc", kind, f"{url}/v1/{route}?status=500"))
    status = registry.run(named="svc")
    assert status.startswith(f"failed: {reason}: the reference service was told to answer 500"), status
    assert stored_keys(registry.services, "assets/") == []


@pytest.mark.parametrize(
    ("kind", "route", "reason"),
    [("validation", "validate", "validation_error"), ("mutation", "mutate", "mutation_error")],
)
def test_an_answer_that_stalls_while_it_is_read_is_an_error_of_the_service(
    webhooks: tuple[ReferenceWebhooks, str], registry_with: Any, kind: str, route: str, reason: str
) -> None:
    """A 422 whose body stops coming: the read times out inside the service's step, not anonymously."""
    _reference, url = webhooks
    registry = registry_with(service("svc", kind, f"{url}/v1/{route}?status=422&stall=3", timeout=0.5))
    status = registry.run(files={"a.txt": b"fine"}, named="svc")
    assert status.startswith(f"failed: {reason}: svc: a.txt: its answer could not be read from"), status
    assert "timed out" in status


def test_a_file_id_with_a_double_quote_gets_its_metadata(
    webhooks: tuple[ReferenceWebhooks, str], registry_with: Any
) -> None:
    """Part names go out form-encoded (``%22``); the answer's names are mapped back to the ids."""
    reference, url = webhooks
    registry = registry_with(service("describe", "metadata", f"{url}/v1/metadata"))
    assert registry.run(files={'we"ird.txt': b"one\ntwo\n"}, named="describe") == "success"
    assert list(reference.calls[0].files) == ["we%22ird.txt"]
    _body, metadata = registry.file("hooked", 'we"ird.txt')
    assert (metadata["bytes"], metadata["lines"]) == (8, 2)


def test_two_file_ids_a_service_would_see_as_one_are_refused_not_guessed(
    webhooks: tuple[ReferenceWebhooks, str], registry_with: Any
) -> None:
    _reference, url = webhooks
    registry = registry_with(service("describe", "metadata", f"{url}/v1/metadata"))
    status = registry.run(files={'a"b.txt': b"x", "a%22b.txt": b"y"}, named="describe")
    assert status == (
        "failed: metadata_extraction_failed: describe: a%22b.txt: "
        "a metadata service sees its name as that of 'a\"b.txt'; rename one of the two"
    ), status


def test_metadata_errors_end_metadata_extraction_failed(
    webhooks: tuple[ReferenceWebhooks, str], registry_with: Any
) -> None:
    _reference, url = webhooks
    registry = registry_with(service("describe", "metadata", f"{url}/v1/metadata?fail=readme"))
    status = registry.run(named="describe")
    assert status == (
        "failed: metadata_extraction_failed: describe: notes/readme.md: the reference service was told to fail on it"
    )


def test_transport_failures_and_busy_answers_are_retried(
    webhooks: tuple[ReferenceWebhooks, str], registry_with: Any
) -> None:
    reference, url = webhooks
    registry = registry_with(
        service("check", "validation", f"{url}/v1/validate?status=503&times=2", retries=2, parameters={})
    )
    assert registry.run(files={"a.txt": b"fine"}, named="check") == "success"
    assert [call.status for call in reference.calls] == [503, 503, 200]


def test_an_unreachable_service_is_a_validation_error_after_its_retries(registry_with: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens on it once closed
    registry = registry_with(
        service("check", "validation", f"http://user:hunter2@127.0.0.1:{port}/v1/validate", retries=1)
    )
    status = registry.run(files={"a.txt": b"fine"}, named="check")
    assert status.startswith(
        f"failed: validation_error: check: a.txt: it could not be reached at http://user:***@127.0.0.1:{port}/v1/validate"
        " (2 tries; last: ConnectError"
    ), status
    assert "hunter2" not in status


def test_a_slow_service_is_cut_off_at_its_timeout(webhooks: tuple[ReferenceWebhooks, str], registry_with: Any) -> None:
    _reference, url = webhooks
    registry = registry_with(service("check", "validation", f"{url}/v1/validate?delay=3", timeout=0.5))
    status = registry.run(files={"a.txt": b"fine"}, named="check")
    assert status.startswith("failed: validation_error: check: a.txt: it could not be reached at"), status
    assert "timed out" in status


def test_an_upload_naming_an_unknown_service_is_refused_before_it_is_read(
    webhooks: tuple[ReferenceWebhooks, str], registry_with: Any
) -> None:
    _reference, url = webhooks
    registry = registry_with(service("check", "validation", f"{url}/v1/validate"))
    body = assert_problem(registry.upload(FILES, named="check,nope"), 400, "unknown_service")
    assert "'nope'" in body["detail"] and "check" in body["detail"]
    assert stored_keys(registry.services, "staging/") == []


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ({"endpoint": "ftp://example.org/x"}, "is not an http:// or https:// URL"),
        ({"filter": "(unclosed"}, "is not an RE2 pattern"),
        ({"kind": "conversion"}, "services.0.kind"),
        ({"name": "has space"}, "services.0.name"),
        ({"timeout": 0}, "services.0.timeout"),
        ({"endpoint": "http://exämple-.com/v"}, "is not a URL a request can be sent to"),
    ],
)
def test_a_badly_configured_service_stops_start_up_with_a_sentence(bad: dict[str, Any], said: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(services=[{**service("svc", "validation", "http://127.0.0.1:1/v"), **bad}])
    assert said in raised.value.message


def test_two_services_of_one_name_stop_start_up() -> None:
    twice = [service("svc", "validation", "http://127.0.0.1:1/v"), service("svc", "metadata", "http://127.0.0.1:1/m")]
    with pytest.raises(ConfigurationError, match="two services are called 'svc'"):
        load_settings(services=twice)


def test_services_come_from_the_configuration_file(tmp_path: Path) -> None:
    config = tmp_path / "registry.toml"
    config.write_text(
        '[[services]]\nname = "scrub"\nkind = "mutation"\nendpoint = "http://127.0.0.1:9000/v1/mutate"\n'
        'filter = "\\\\.json$"\nparameters = { find = "a", replace = "b" }\ntimeout = 5\nretries = 1\n',
        encoding="utf-8",
    )
    (scrub,) = load_settings(config_file=config).services
    assert (scrub.name, scrub.kind, scrub.filter, scrub.parameters) == (
        "scrub",
        "mutation",
        r"\.json$",
        {"find": "a", "replace": "b"},
    )
    assert (scrub.timeout, scrub.retries, scrub.always) == (5, 1, False)


def test_a_job_waiting_on_slow_services_keeps_its_lease(
    webhooks: tuple[ReferenceWebhooks, str], tmp_path: Path
) -> None:
    """Five files at 0.8 s each outlast a 2 s lease: the job renews it between them."""
    _reference, url = webhooks
    checker = service("slow", "validation", f"{url}/v1/validate?delay=0.8", timeout=1)
    settings = load_settings(data_dir=tmp_path / "var", services=[checker], lease_seconds=4.0)
    services = build_container(settings).services()
    try:
        files = {f"f{n}.txt": b"fine" for n in range(5)}
        job = services.bundles.stage([bundle_zip(bundle_asset("slow-1"), files)], services=["slow"])
        claimed = services.jobs.claim("first", 2.0)
        assert claimed is not None
        stolen: list[object] = []
        thief = threading.Timer(3.0, lambda: stolen.append(services.jobs.claim("second", 2.0)))
        thief.start()
        started = time.monotonic()
        services.bundles.process(claimed, "first")
        thief.join()
        assert time.monotonic() - started > 3.5
        assert stolen == [None], "the lease ran out while the job waited on the service"
        assert services.bundles.status(job.upload_id).status == "success"
    finally:
        services.close()


def test_a_service_timeout_longer_than_a_quarter_of_the_lease_stops_start_up() -> None:
    with pytest.raises(ConfigurationError, match="could lose its lease"):
        load_settings(services=[service("svc", "validation", "http://127.0.0.1:1/v", timeout=16)], lease_seconds=60)
    assert (
        load_settings(services=[service("svc", "validation", "http://127.0.0.1:1/v", timeout=15)]).lease_seconds == 60
    )


def test_a_torn_list_of_named_services_fails_the_job_with_a_reason(
    webhooks: tuple[ReferenceWebhooks, str], registry_with: Any
) -> None:
    _reference, url = webhooks
    registry = registry_with(service("check", "validation", f"{url}/v1/validate"))
    result = registry.upload(FILES, named="check")
    upload_id = result.json["upload_id"]
    registry.services.blobs.put(f"staging/{upload_id}.services.json", [b'["che'])  # cut short by a crash
    run_jobs(registry.services)
    status = registry.client.simulate_get(f"/zip/status/{upload_id}").json["status"]
    assert status == "failed: the upload's list of services is unreadable; upload the bundle again"
