"""``assets-registry upload`` and ``download`` against a real ``assets-registry serve`` over real sockets."""

from __future__ import annotations

import http.server
import io
import json
import os
import random
import threading
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import httpx
import pytest

from assets_registry.apps.cli import main
from assets_registry.apps.client import CommandError, _wait_for, upload
from assets_registry.apps.container import build_container
from assets_registry.apps.settings import load_settings
from assets_registry.client import RegistryClient
from assets_registry.client.transfer import file_body, multipart_parts
from assets_registry.testing import write_bundle
from tests.seed import SEED_ASSET
from tests.served import free_port, served_registry
from tests.stacks import STACKS, stack_settings

MiB = 1 << 20


@pytest.fixture(scope="module", params=[*STACKS, pytest.param("auth-tokens", id="embedded-auth-tokens")])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The CLI against each stack, and against the embedded default with ``auth=tokens``: then the
    commands find their token in ``ASSETS_TOKEN``, as a user's shell would give it."""
    data_dir = tmp_path_factory.mktemp("served")
    if request.param != "auth-tokens":
        with served_registry(data_dir, settings=stack_settings(request)) as (url,):
            yield url
        return
    admin = build_container(load_settings(data_dir=data_dir)).services()
    token, _ = admin.tokens.create("cli-suite", "write")
    admin.close()
    before = os.environ.get("ASSETS_TOKEN")
    os.environ["ASSETS_TOKEN"] = token
    try:
        with served_registry(data_dir, settings={"ASSETS_AUTH": "tokens"}) as (url,):
            yield url
    finally:
        if before is None:
            os.environ.pop("ASSETS_TOKEN", None)
        else:
            os.environ["ASSETS_TOKEN"] = before


def _get(url: str) -> httpx.Response:
    """A plain GET, with the suite's token when the server needs one."""
    token = os.environ.get("ASSETS_TOKEN")
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"} if token else {})


def make_bundle(path: Path, asset_id: str) -> dict[str, bytes]:
    """A bundle of ``asset.json``, a 3 MiB file and a nested small file; returns the files' bytes."""
    members = {
        "weights.bin": random.Random(asset_id).randbytes(3 * MiB),
        "config/nested/settings.json": b'{"layers": 12}\n',
    }
    document = {
        **SEED_ASSET,
        "asset_id": asset_id,
        "asset_uri": f"models://example.com/{asset_id}",
        "profiles": [{**SEED_ASSET["profiles"][0], "asset_id": asset_id}],
    }
    write_bundle(path, document, members)
    return members


def test_upload_wait_download_and_reupload(server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "cli-1.zip"
    members = make_bundle(bundle, "cli-1")

    assert main(["upload", str(bundle), "--wait", "--url", server, "--quiet"]) == 0
    upload_id, asset_id = capsys.readouterr().out.split()
    assert asset_id == "cli-1"
    status = _get(f"{server}/zip/status/{upload_id}").json()
    assert (status["status"], status["asset_id"]) == ("success", "cli-1")
    response = _get(f"{server}/query/by-id/cli-1")
    assert response.status_code == 200
    assert sorted(f["asset_file_id"] for f in response.json()["files"]) == sorted(members)

    out = tmp_path / "downloaded.zip"
    assert main(["download", "cli-1", "-o", str(out), "--url", server, "--quiet"]) == 0
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == sorted([*members, "asset.json"])
        for name, data in members.items():
            assert archive.read(name) == data
        assert json.loads(archive.read("asset.json"))["asset_id"] == "cli-1"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []

    assert main(["upload", str(bundle), "--wait", "--url", server, "--quiet"]) == 1
    captured = capsys.readouterr()
    again = captured.out.strip()
    assert captured.err.strip() == f"assets-registry: upload {again} failed: asset cli-1 already exists"


def test_download_default_name_and_stdout(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    bundle = tmp_path / "bundle.zip"
    members = make_bundle(bundle, "cli-2")
    monkeypatch.setenv("ASSETS_URL", server)  # no --url: the environment names the server
    assert main(["upload", str(bundle), "--wait", "--quiet"]) == 0
    capsysbinary.readouterr()

    monkeypatch.chdir(tmp_path)
    assert main(["download", "cli-2", "--quiet"]) == 0
    with zipfile.ZipFile(tmp_path / "cli-2.zip") as archive:
        assert archive.read("weights.bin") == members["weights.bin"]

    assert main(["download", "cli-2", "-o", "-", "--quiet"]) == 0
    data = capsysbinary.readouterr().out
    assert data == (tmp_path / "cli-2.zip").read_bytes()


def test_unknown_asset_prints_the_servers_detail(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    problem = _get(f"{server}/zip/download/no-such-asset").json()
    assert main(["download", "no-such-asset", "--url", server, "--quiet"]) == 1
    assert capsys.readouterr().err == f"assets-registry: {problem['detail']}\n"
    assert list(tmp_path.iterdir()) == []


def test_unknown_upload_id_prints_the_servers_detail(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    detail = _get(f"{server}/zip/status/nope").json()["detail"]
    with RegistryClient(server) as client, pytest.raises(CommandError) as info:  # $ASSETS_TOKEN if set
        _wait_for(client, "nope", 5, quiet=True)
    assert str(info.value) == detail


def test_a_file_that_is_not_a_zip_fails_with_a_reason(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "not-a-bundle.zip"
    bundle.write_bytes(b"just some text, not an archive\n" * 100)
    assert main(["upload", str(bundle), "--wait", "--url", server, "--quiet"]) == 1
    captured = capsys.readouterr()
    upload_id = captured.out.strip()
    assert captured.err.startswith(f"assets-registry: upload {upload_id} failed: the upload is not a readable ZIP")


def test_an_empty_file_is_refused_with_the_servers_detail(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "empty.zip"
    bundle.touch()
    assert main(["upload", str(bundle), "--url", server, "--quiet"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("assets-registry: The uploaded file is empty")


def test_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upload", str(tmp_path / "absent.zip"), "--url", "http://127.0.0.1:9", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"assets-registry: cannot read {tmp_path / 'absent.zip'}")
    assert err.count("\n") == 1


def test_a_closed_port_is_one_line_naming_the_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    bundle = tmp_path / "b.zip"
    make_bundle(bundle, "cli-3")
    for argv in (["upload", str(bundle), "--wait"], ["download", "cli-3", "-o", str(tmp_path / "out.zip")]):
        assert main([*argv, "--url", url, "--quiet"]) == 3  # unreachable
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith(f"assets-registry: cannot connect to {url}")
        assert captured.err.count("\n") == 1
        assert "Traceback" not in captured.err
    assert not (tmp_path / "out.zip").exists()


def test_upload_streams_from_disk(server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = tmp_path / "big.zip"
    with big.open("wb") as f:
        f.truncate(200 * MiB)  # sparse: costs no disk here, 200 MiB on the wire
    tracemalloc.start()
    try:
        code = upload(server, big, wait=False, quiet=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0
    upload_id = capsys.readouterr().out.strip()
    assert _get(f"{server}/zip/status/{upload_id}").status_code == 200
    assert peak < 32 * MiB, f"peak Python allocation {peak / MiB:.1f} MiB"


def test_wait_gives_up_after_the_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    polls: list[str] = []

    def still_processing(request: httpx.Request) -> httpx.Response:
        polls.append(request.url.path)
        progress = {"bytes_done": 10, "bytes_total": 100, "files_done": 0, "files_total": 1}
        return httpx.Response(200, json={"upload_id": "u1", "status": "processing", "progress": progress})

    transport = httpx.MockTransport(still_processing)
    with (
        RegistryClient("http://registry", transport=transport) as client,
        pytest.raises(CommandError, match=r"upload u1 is still processing after 0.6 s"),
    ):
        _wait_for(client, "u1", 0.6, quiet=True)
    assert 2 <= len(polls) <= 3
    assert set(polls) == {"/zip/status/u1"}


class _ShortBody(http.server.BaseHTTPRequestHandler):
    """Promises 1000 bytes and sends 9, as a server that fails mid-archive does."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"PK\x03\x04 part")
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_cut_off_download_leaves_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ShortBody) as short:
        thread = threading.Thread(target=short.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{short.server_address[1]}"
            out = tmp_path / "partial.zip"
            assert main(["download", "x", "-o", str(out), "--url", url, "--quiet"]) == 3  # the connection broke
        finally:
            short.shutdown()
    err = capsys.readouterr().err
    assert err.startswith("assets-registry: the download was cut off after 9 bytes")
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_upload_body_is_the_multipart_the_server_reads(tmp_path: Path) -> None:
    """The hand-made body parses as a browser's: one ``file`` part with the name and the bytes."""
    source = tmp_path / 'odd "name".zip'
    source.write_bytes(os.urandom(3 * MiB + 5))
    preamble, epilogue = multipart_parts(source.name, "b0undary")
    assert b'filename="odd %22name%22.zip"' in preamble

    with source.open("rb") as f:
        body = b"".join(file_body(f, source.stat().st_size, preamble, epilogue, lambda done, total: None))
    assert len(body) == len(preamble) + source.stat().st_size + len(epilogue)

    seen: dict[str, object] = {}

    class Echo:
        def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
            for part in req.get_media():
                seen[part.name] = (part.filename, part.content_type, part.stream.read())

    app = falcon.App()
    app.add_route("/", Echo())
    result = falcon.testing.TestClient(app).simulate_post(
        "/", body=body, headers={"Content-Type": "multipart/form-data; boundary=b0undary"}
    )
    assert result.status_code == 200
    # Escaped as browsers escape it (the HTML standard); servers, Falcon too, keep it escaped.
    assert seen == {"file": ("odd %22name%22.zip", "application/zip", source.read_bytes())}


def test_upload_help_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["upload", "--help"])
    out = capsys.readouterr().out
    for option in ("--wait", "--url", "--timeout", "--quiet"):
        assert option in out
    assert out.startswith("usage: assets-registry upload")


def test_a_folder_uploads_zipped_as_it_is_sent_and_one_file_downloads_resumed(
    server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cli-folder"
    (folder / "config" / "nested").mkdir(parents=True)
    members = {"weights.bin": random.Random(7).randbytes(3 * MiB), "config/nested/settings.json": b'{"a": 1}\n'}
    for name, data in members.items():
        (folder / name).write_bytes(data)
    document = {**SEED_ASSET, "asset_id": "cli-folder", "asset_file_ids": sorted(members)}
    document["profiles"] = [{**SEED_ASSET["profiles"][0], "asset_id": "cli-folder"}]
    (folder / "asset.json").write_text(json.dumps(document))
    seen: list[tuple[int, int | None]] = []
    with RegistryClient(server) as client:  # $ASSETS_TOKEN if the server wants one
        upload_id = client.upload(folder, progress=lambda done, total: seen.append((done, total)))
        assert client.wait(upload_id, timeout=60).status == "success"
    total = sum(len(data) for data in members.values()) + len((folder / "asset.json").read_bytes())
    assert seen[-1] == (total, total)
    assert [p.name for p in tmp_path.iterdir()] == ["cli-folder"], "no temporary archive was made"

    monkeypatch.chdir(tmp_path)
    assert main(["download", "cli-folder", "weights.bin", "--url", server, "--quiet"]) == 0
    assert (tmp_path / "weights.bin").read_bytes() == members["weights.bin"]
    partial = tmp_path / "part.bin"
    partial.write_bytes(members["weights.bin"][: MiB + 3])  # a copy cut off: only the rest is fetched
    assert main(["download", "cli-folder", "weights.bin", "-o", str(partial), "--url", server, "--quiet"]) == 0
    assert partial.read_bytes() == members["weights.bin"]
    assert main(["download", "cli-folder", "config/nested/settings.json", "-o", "-", "--url", server, "-q"]) == 0
    assert capsys.readouterr().out == '{"a": 1}\n'
    assert main(["download", "cli-folder", "nope.bin", "--url", server, "--quiet"]) == 1
    assert capsys.readouterr().err == "assets-registry: The asset 'cli-folder' has no file 'nope.bin'.\n"


def test_a_folder_without_asset_json_is_refused_before_sending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "a.bin").write_bytes(b"a")
    assert main(["upload", str(tmp_path / "loose"), "--url", f"127.0.0.1:{free_port()}", "--quiet"]) == 1
    assert "has no asset.json at its top" in capsys.readouterr().err


def test_a_partial_copy_of_another_version_is_fetched_again_whole(server: str, tmp_path: Path) -> None:
    bundle = tmp_path / "versions.zip"
    members = make_bundle(bundle, "cli-versions")
    with RegistryClient(server) as client:
        assert client.wait(client.upload(bundle), timeout=60).status == "success"
        wrong = tmp_path / "weights.bin"
        wrong.write_bytes(b"x" * (MiB + 1))  # as long as a prefix, but not the file's bytes
        client.download_file("cli-versions", "weights.bin", wrong)
        assert wrong.read_bytes() == members["weights.bin"]
        longer = tmp_path / "longer.bin"
        longer.write_bytes(members["weights.bin"] + b"tail")  # "whole already" by its length: not so
        client.download_file("cli-versions", "weights.bin", longer)
        assert longer.read_bytes() == members["weights.bin"]


def test_upload_resume_after_a_cut_at_90_percent_sends_only_the_rest(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # where the CLI remembers the upload
    monkeypatch.setattr("assets_registry.client.resumable.CHUNK", 256 << 10)
    bundle = tmp_path / "resumed.zip"
    members = make_bundle(bundle, f"resumed-{random.randrange(1 << 30)}")
    size = bundle.stat().st_size
    sent: list[int] = []
    real_patch = httpx.Client.patch

    def cut_at_90_percent(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
        if sum(sent) >= 0.9 * size:
            raise KeyboardInterrupt  # the user gives up (or the laptop sleeps)
        sent.append(len(kwargs["content"]))
        return real_patch(client, url, **kwargs)

    monkeypatch.setattr(httpx.Client, "patch", cut_at_90_percent)
    assert main(["upload", "--resume", str(bundle), "--url", server, "--quiet"]) == 1
    assert capsys.readouterr().err == "assets-registry: interrupted\n"
    before = sum(sent)
    assert 0.9 * size <= before < size

    def counted(client: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
        sent.append(len(kwargs["content"]))
        return real_patch(client, url, **kwargs)

    monkeypatch.setattr(httpx.Client, "patch", counted)
    sent.clear()
    assert main(["upload", "--resume", str(bundle), "--wait", "--url", server, "--quiet"]) == 0
    assert sum(sent) == size - before <= 0.15 * size
    _upload_id, asset_id = capsys.readouterr().out.split()
    with zipfile.ZipFile(io.BytesIO(_get(f"{server}/zip/download/{asset_id}").content)) as archive:
        assert archive.read("weights.bin") == members["weights.bin"]
    assert json.loads((tmp_path / "cache" / "assets-registry" / "uploads.json").read_text()) == {}


def test_upload_resume_refuses_a_folder(server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "folder").mkdir()
    assert main(["upload", "--resume", str(tmp_path / "folder"), "--url", server, "--quiet"]) == 1
    assert "zip it first" in capsys.readouterr().err
