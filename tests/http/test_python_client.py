"""``assets_registry.client.RegistryClient`` against a real ``assets-registry serve`` (and its retry logic
against a scripted transport)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assets_registry.client import ApiError, RegistryClient
from assets_registry.testing import bundle_asset, write_bundle
from tests.seed import SEED_ASSET
from tests.served import served_registry


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served_registry(tmp_path_factory.mktemp("client")) as (served,):
        yield served


def test_assets_round_trip_as_dataclasses(url: str) -> None:
    with RegistryClient(url.removeprefix("http://")) as client:  # host:port is enough
        created = client.create_asset(SEED_ASSET)
        assert created.asset_id == "asset-001" and created.profiles[0].asset_type == "model"
        assert client.get_asset("asset-001").asset_uri == SEED_ASSET["asset_uri"]
        updated = client.update_asset("asset-001", {"asset_brief_description": "via the client"})
        assert updated.asset_brief_description == "via the client"
        with pytest.raises(ApiError) as stale:
            client.update_asset("asset-001", {"asset_version": "v9"}, if_match='"1"')
        assert (stale.value.status, stale.value.code) == (412, "revision_mismatch")
        for n in range(3):
            profiles = [{**SEED_ASSET["profiles"][0], "asset_id": f"paged-{n}"}]
            client.create_asset(
                {**SEED_ASSET, "asset_id": f"paged-{n}", "asset_uri": f"models://x/{n}", "profiles": profiles}
            )
        assert [a.asset_id for a in client.assets_by("type", "model", page_size=1)] == [
            "asset-001", "paged-0", "paged-1", "paged-2"]  # fmt: skip
        assert [a.asset_id for a in client.search({"asset_id": {"$regex": "^paged-"}}, page_size=2)] == [
            "paged-0", "paged-1", "paged-2"]  # fmt: skip
        client.delete_asset("asset-001")
        with pytest.raises(ApiError) as gone:
            client.get_asset("asset-001")
        assert (gone.value.status, gone.value.code) == (404, "asset_not_found")


def test_upload_wait_download_and_a_resumed_file(url: str, tmp_path: Path) -> None:
    import random

    data = random.Random(7).randbytes(1 << 20)  # 1 MiB that does not compress
    bundle = tmp_path / "b.zip"
    write_bundle(bundle, bundle_asset("by-client"), {"weights.bin": data})
    sent: list[int] = []
    with RegistryClient(url) as client:
        upload_id = client.upload(bundle, progress=lambda done, total: sent.append(done))
        assert sent[-1] == bundle.stat().st_size
        status = client.wait(upload_id, timeout=60)
        assert (status.status, status.asset_id) == ("success", "by-client")
        archive = client.download("by-client", tmp_path / "by-client.zip")
        assert archive.stat().st_size > len(data) // 2
        partial = tmp_path / "weights.bin"
        partial.write_bytes(data[:100_000])  # a copy cut short
        seen: list[int] = []
        client.download_file("by-client", "weights.bin", partial, progress=lambda done, total: seen.append(done))
        assert partial.read_bytes() == data
        assert seen[0] > 100_000, "only the rest was fetched"
        client.download_file("by-client", "weights.bin", partial)  # already whole: 416, left as it is
        assert partial.read_bytes() == data


def test_a_503_is_tried_again_after_its_retry_after() -> None:
    answers = [httpx.Response(503, headers={"Retry-After": "0"}, json={"code": "backend_unavailable", "detail": "x"}),
               httpx.Response(200, json={**SEED_ASSET})]  # fmt: skip
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("Authorization", ""))
        return answers.pop(0)

    client = RegistryClient("http://registry", token="areg_x", transport=httpx.MockTransport(handler))
    assert client.get_asset("asset-001").asset_id == "asset-001"
    assert calls == ["Bearer areg_x"] * 2
    unavailable = {"code": "backend_unavailable", "detail": "down"}

    def always_down(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "0"}, json=unavailable)

    down = RegistryClient("http://registry", retries=1, transport=httpx.MockTransport(always_down))
    with pytest.raises(ApiError) as failed:
        down.get_asset("a")
    assert (failed.value.status, failed.value.code, failed.value.detail) == (503, "backend_unavailable", "down")


def test_a_resumable_upload_whose_answer_was_lost_continues_from_the_servers_offset(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third PATCH reaches the server but its answer is lost on the way back: the client asks
    (HEAD) how far the server got and goes on from there, sending no byte twice."""
    import random

    from assets_registry.client.resumable import ResumeBook

    data = random.Random(11).randbytes(3 << 20)
    bundle = tmp_path / "lost.zip"
    write_bundle(bundle, bundle_asset("lost-answer"), {"weights.bin": data})
    real = httpx.HTTPTransport()
    patches: list[int] = []

    class LosesAnAnswer(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            answer = real.handle_request(request)
            if request.method == "PATCH":
                patches.append(len(request.content))
                if len(patches) == 3:
                    answer.read()
                    raise httpx.ReadError("the answer was lost", request=request)
            return answer

    monkeypatch.setattr("assets_registry.client.resumable.CHUNK", 1 << 20)
    with RegistryClient(url, transport=LosesAnAnswer()) as client:
        upload_id = client.upload_resumable(bundle, book=ResumeBook(tmp_path / "book.json"))
        assert sum(patches) == bundle.stat().st_size  # nothing sent twice
        status = client.wait(upload_id, timeout=60)
        assert (status.status, status.asset_id) == ("success", "lost-answer")
