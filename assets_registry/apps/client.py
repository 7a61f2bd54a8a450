"""The ``upload`` and ``download`` commands: move ZIP bundles to and from a running registry.

Both stream: the upload sends the archive from disk in 1 MiB chunks and the download writes
it to disk as it arrives, so a bundle of any size needs little memory. Progress bars go to
stderr (hidden by ``--quiet`` and when stderr is not a terminal); stdout carries only what a
script wants: the upload id, then the asset id when ``--wait`` ends in success, or the
archive itself with ``-o -``. Every failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

DEFAULT_URL = "http://127.0.0.1:8080"
CHUNK = 1 << 20
POLL_SECONDS = 0.5
FILE_FIELD = "file"
SUCCESS = "success"
FAILED = "failed"
# Long reads: the server answers an upload only once the archive is stored.
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


class CommandError(Exception):
    """A failure to report as ``assets-registry: <message>`` and exit status 1."""


def server_url(flag: str | None) -> str:
    """``--url``, else ``$ASSETS_URL``, else the default write port of a local server; a bare
    ``host:port`` (or ``host``) means ``http://host:port``."""
    url = (flag or os.environ.get("ASSETS_URL") or DEFAULT_URL).strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def upload(
    url: str,
    path: Path,
    wait: bool = False,
    timeout: float = 3600.0,
    quiet: bool = False,
    services: str = "",
    bucket: str = "",
    token: str | None = None,
) -> int:
    """Upload ``path`` to ``POST /zip/upload``, print the upload id; with ``wait``, follow the job.

    ``services`` (``a,b``) names webhook services to run beside those run on every upload,
    ``bucket`` the bucket to store into.
    """

    def run(client: httpx.Client) -> int:
        upload_id = _send_bundle(client, path, quiet, services, bucket)
        print(upload_id, flush=True)
        return _wait_for(client, upload_id, timeout, quiet) if wait else 0

    return run_client(url, run, token)


def download(url: str, asset_id: str, output: str | None = None, quiet: bool = False, token: str | None = None) -> int:
    """Save ``GET /zip/download/{asset_id}`` to ``output``: a file, a folder, or ``-`` for stdout.

    The default is ``<asset_id>.zip`` in the current folder, the name the server suggests.
    """

    def run(client: httpx.Client) -> int:
        target = output or f"{asset_id}.zip"
        if target != "-" and Path(target).is_dir():
            target = str(Path(target) / f"{asset_id}.zip")
        _fetch_bundle(client, asset_id, target, quiet)
        return 0

    return run_client(url, run, token)


# -- upload ---------------------------------------------------------------------------


def multipart_parts(filename: str, boundary: str) -> tuple[bytes, bytes]:
    """The bytes before and after the file in a one-field multipart/form-data body."""
    # The HTML standard's escaping of a file name inside the quoted header parameter.
    name = filename.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    preamble = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{FILE_FIELD}"; filename="{name}"\r\n'
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    return preamble, f"\r\n--{boundary}--\r\n".encode()


def multipart_body(source: IO[bytes], size: int, preamble: bytes, epilogue: bytes, bar: tqdm[Any]) -> Iterator[bytes]:
    """Yield the body a chunk at a time, so the file is never held in memory.

    Exactly ``size`` bytes of the file are sent: the request's Content-Length was computed
    from it, and a file that changes meanwhile must fail here rather than send a body
    that disagrees with its header.
    """
    yield preamble
    left = size
    while left:
        chunk = _read(source, min(CHUNK, left))
        if not chunk:
            raise CommandError(f"{source.name} shrank while it was being uploaded")
        left -= len(chunk)
        bar.update(len(chunk))
        yield chunk
    if _read(source, 1):
        raise CommandError(f"{source.name} grew while it was being uploaded")
    yield epilogue


def _read(source: IO[bytes], size: int) -> bytes:
    try:
        return source.read(size)
    except OSError as exc:
        raise CommandError(f"cannot read {source.name}: {exc.strerror or exc}") from None


def _send_bundle(client: httpx.Client, path: Path, quiet: bool, services: str = "", bucket: str = "") -> str:
    boundary = uuid.uuid4().hex
    preamble, epilogue = multipart_parts(path.name, boundary)
    try:
        source = path.open("rb")
        size = os.fstat(source.fileno()).st_size
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    with source, _bar(quiet, f"upload {path.name}", size) as bar:
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(preamble) + size + len(epilogue)),
        }
        body = multipart_body(source, size, preamble, epilogue, bar)
        params = {**({"services": services} if services else {}), **({"bucket": bucket} if bucket else {})}
        response = client.post("/zip/upload", content=body, headers=headers, params=params)
    check_answer(response)
    upload_id = json_object(response).get("upload_id")
    if not isinstance(upload_id, str):
        raise CommandError(f"the server accepted the upload but sent no upload_id ({response.text[:200]})")
    return upload_id


def _wait_for(client: httpx.Client, upload_id: str, timeout: float, quiet: bool) -> int:
    """Poll the job until it ends; 0 on success (printing the asset id), 1 on failure or timeout."""
    deadline = time.monotonic() + timeout
    path = f"/zip/status/{quote(upload_id, safe='')}"
    with _bar(quiet, "queued", None, leave=False) as bar:
        while True:
            response = client.get(path)
            check_answer(response)
            job = json_object(response)
            status = str(job.get("status"))
            _show_job(bar, status, job.get("progress"))
            if status == SUCCESS or status.startswith(FAILED) or time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
    if status.startswith(FAILED):
        reason = status.removeprefix(FAILED).lstrip(":").strip()
        raise CommandError(f"upload {upload_id} failed: {reason}")
    if status != SUCCESS:
        raise CommandError(f"upload {upload_id} is still {status} after {timeout:g} s; stopped waiting")
    if not quiet:
        print(f"upload {upload_id}: {status}", file=sys.stderr)
    print(job.get("asset_id", ""), flush=True)
    return 0


def _show_job(bar: tqdm[Any], status: str, progress: object) -> None:
    bar.set_description_str(status, refresh=False)
    if isinstance(progress, dict):
        done, total = progress.get("bytes_done"), progress.get("bytes_total")
        if isinstance(total, int) and total != bar.total:
            bar.reset(total=total)
        if isinstance(done, int):
            bar.n = done
    bar.refresh()


# -- download -------------------------------------------------------------------------


def _fetch_bundle(client: httpx.Client, asset_id: str, output: str, quiet: bool) -> None:
    path = f"/zip/download/{quote(asset_id, safe='')}"
    with client.stream("GET", path, headers={"Accept-Encoding": "identity"}) as response:
        if response.is_error:
            response.read()
            check_answer(response)
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        with _bar(quiet, f"download {asset_id}", expected) as bar:
            if output == "-":
                received = _copy(response, sys.stdout.buffer, bar)
                sys.stdout.buffer.flush()
                _check_length(asset_id, received, expected)
            else:
                _save(response, Path(output), bar, asset_id, expected)


def _save(response: httpx.Response, target: Path, bar: tqdm[Any], asset_id: str, expected: int | None) -> None:
    """Write to a hidden file next to ``target`` and rename it only once complete.

    An interrupted download then never leaves a file under the name that looks whole.
    """
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        # os.open, unlike tempfile, honours the umask: the renamed file gets normal permissions.
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(descriptor, "wb") as sink:
            received = _copy(response, sink, bar)
        _check_length(asset_id, received, expected)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _copy(response: httpx.Response, sink: IO[bytes], bar: tqdm[Any]) -> int:
    received = 0
    try:
        for chunk in response.iter_bytes():  # as it arrives (httpx reads 64 KiB at a time)
            sink.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    except OSError as exc:
        raise CommandError(f"cannot write the download: {exc.strerror or exc}") from None
    except httpx.TransportError as exc:
        raise CommandError(f"the download was cut off after {received} bytes ({_reason(exc)})") from None
    return received


def _check_length(asset_id: str, received: int, expected: int | None) -> None:
    if expected is not None and received != expected:
        raise CommandError(f"the download of {asset_id} is incomplete: {received} of {expected} bytes arrived")


# -- shared ---------------------------------------------------------------------------


def run_client(url: str, action: Callable[[httpx.Client], int], token: str | None = None) -> int:
    """Run ``action`` with a client for ``url``, turning every expected failure into one line.

    ``token`` (else ``$ASSETS_TOKEN``) goes in every request's ``Authorization`` header.
    """
    token = token or os.environ.get("ASSETS_TOKEN") or None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=url, timeout=HTTP_TIMEOUT, headers=headers) as client:
            return action(client)
    except CommandError as exc:
        message = str(exc)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        message = f"cannot connect to {url} ({_reason(exc)})"
    except httpx.TimeoutException as exc:
        message = f"{url} did not answer in time ({_reason(exc)})"
    except httpx.HTTPError as exc:
        message = f"the connection to {url} failed ({_reason(exc)})"
    except httpx.InvalidURL as exc:
        message = f"invalid server URL {url!r} ({exc})"
    except KeyboardInterrupt:
        message = "interrupted"
    print(f"assets-registry: {message}", file=sys.stderr)
    return 1


def check_answer(response: httpx.Response) -> None:
    """Raise the server's problem ``detail`` for an error answer."""
    if not response.is_error:
        return
    detail: object = None
    with contextlib.suppress(CommandError):
        detail = json_object(response).get("detail")
    if not isinstance(detail, str) or not detail:
        detail = f"{response.status_code} {response.reason_phrase} from {response.request.url}"
    raise CommandError(detail)


def json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise CommandError(f"{response.request.url} answered {response.status_code} without a JSON object")
    return value


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _bar(quiet: bool, description: str, total: float | None, leave: bool = True) -> tqdm[Any]:
    # disable=None: tqdm hides itself when stderr is not a terminal.
    return tqdm(
        total=total,
        desc=description,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=True if quiet else None,
        leave=leave,
        dynamic_ncols=True,
    )
