"""The ``upload`` and ``download`` commands: move bundles and files to and from a running registry.

Both run on ``assets_registry.client.RegistryClient`` and stream: the upload sends a ZIP from
disk in 1 MiB chunks, or a bundle's folder zipped as it is sent (no temporary copy); the
download writes the ZIP, or one file of the asset (resumed with ``Range`` where a partial copy
is), to disk as it arrives, so a bundle of any size needs little memory. Progress bars go to
stderr (hidden by ``--quiet`` and when stderr is not a terminal); stdout carries only what a
script wants: the upload id, then the asset id when ``--wait`` ends in success, or the
archive itself with ``-o -``. Every failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]

from assets_registry.apps.output import REFUSED, SERVER_FAILED, UNREACHABLE, USAGE, report
from assets_registry.client import ApiError, RegistryClient
from assets_registry.client.transfer import Progress, TransferError

DEFAULT_URL = "http://127.0.0.1:8080"
POLL_SECONDS = 0.5
SUCCESS = "success"
FAILED = "failed"
HTTP_TIMEOUT_SECONDS = 60.0  # per read; the server answers an upload once the archive is stored


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
    as_json: bool = False,
    resume: bool = False,
) -> int:
    """Upload ``path`` (a ZIP, or a bundle's folder zipped as it is sent) to ``POST /zip/upload``,
    print the upload id; with ``wait``, follow the job.

    ``services`` (``a,b``) names webhook services to run beside those run on every upload,
    ``bucket`` the bucket to store into. ``resume`` sends a ZIP over tus (``/uploads/``) instead,
    continuing where an earlier ``--resume`` of the same file was cut off.
    """
    named = tuple(name.strip() for name in services.split(",") if name.strip())

    def run(client: RegistryClient) -> int:
        with _bar(quiet, f"upload {path.name}", None) as bar:
            send = client.upload_resumable if resume else client.upload
            upload_id = send(path, bucket or None, named, _on(bar))
        report(as_json, upload_id, {"upload_id": upload_id})
        return _wait_for(client, upload_id, timeout, quiet, as_json) if wait else 0

    return run_registry_client(url, run, token)


def download(
    url: str,
    asset_id: str,
    output: str | None = None,
    quiet: bool = False,
    token: str | None = None,
    file_id: str | None = None,
    as_json: bool = False,
) -> int:
    """Save the asset's ZIP (or, with ``file_id``, one of its files) to ``output``: a file, a
    folder, or ``-`` for stdout. The default name is ``<asset_id>.zip`` (the one the server
    suggests), or the file's own name; a partial copy of a file there is completed (``Range``)."""
    default = f"{asset_id}.zip" if file_id is None else Path(file_id).name

    def run(client: RegistryClient) -> int:
        target: Path | IO[bytes] = sys.stdout.buffer if output == "-" else Path(output or default)
        if isinstance(target, Path) and target.is_dir():
            target = target / default
        with _bar(quiet, f"download {file_id or asset_id}", None) as bar:
            if file_id is None:
                client.download(asset_id, target, _on(bar))
            else:
                client.download_file(asset_id, file_id, target, _on(bar))
        if output == "-":
            sys.stdout.buffer.flush()
        elif as_json:
            assert isinstance(target, Path)
            report(
                True,
                "",
                {"asset_id": asset_id, "file_id": file_id, "path": str(target), "bytes": target.stat().st_size},
            )
        return 0

    return run_registry_client(url, run, token)


def _on(bar: tqdm[Any]) -> Progress:
    """A progress callback that moves ``bar``."""

    def moved(done: int, total: int | None) -> None:
        if total is not None and total != bar.total:
            bar.reset(total=total)
        bar.update(done - bar.n)

    return moved


def _wait_for(client: RegistryClient, upload_id: str, timeout: float, quiet: bool, as_json: bool = False) -> int:
    """Poll the job until it ends; 0 on success (printing the asset id), 1 on failure or timeout."""
    deadline = time.monotonic() + timeout
    with _bar(quiet, "queued", None, leave=False) as bar:
        while True:
            try:
                job = client.status(upload_id)
            except ApiError as exc:
                raise CommandError(exc.detail) from None
            _show_job(bar, job.status, job.progress)
            if job.finished or time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
    if job.status.startswith(FAILED):
        reason = job.status.removeprefix(FAILED).lstrip(":").strip()
        raise CommandError(f"upload {upload_id} failed: {reason}")
    if job.status != SUCCESS:
        raise CommandError(f"upload {upload_id} is still {job.status} after {timeout:g} s; stopped waiting")
    if not quiet:
        print(f"upload {upload_id}: {job.status}", file=sys.stderr)
    record = {"upload_id": upload_id, "status": job.status, "reason": job.reason, "asset_id": job.asset_id}
    report(as_json, job.asset_id or "", record)
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


# -- shared ---------------------------------------------------------------------------


def run_client(url: str, action: Callable[[httpx.Client], int], token: str | None = None) -> int:
    """Run ``action`` with an httpx client for ``url``, every expected failure one line on stderr.

    ``token`` (else ``$ASSETS_TOKEN``) goes in every request's ``Authorization`` header.
    """
    return run_registry_client(url, lambda client: action(client.http), token)


def run_registry_client(url: str, action: Callable[[RegistryClient], int], token: str | None = None) -> int:
    """Run ``action`` with a ``RegistryClient`` for ``url``, every expected failure one line on stderr
    and its exit status (``apps.output``: 1 refused, 2 usage, 3 unreachable, 4 server failure)."""
    try:
        with RegistryClient(url, token=token, timeout=HTTP_TIMEOUT_SECONDS, retries=0) as client:
            return action(client)
    except CommandError as exc:
        message, status = str(exc), REFUSED
    except ApiError as exc:
        message, status = exc.detail, SERVER_FAILED if exc.status >= 500 else REFUSED
    except TransferError as exc:
        message, status = str(exc), UNREACHABLE if str(exc).startswith("the download was cut off") else REFUSED
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        message, status = f"cannot connect to {url} ({_reason(exc)})", UNREACHABLE
    except httpx.TimeoutException as exc:
        message, status = f"{url} did not answer in time ({_reason(exc)})", UNREACHABLE
    except httpx.HTTPError as exc:
        message, status = f"the connection to {url} failed ({_reason(exc)})", UNREACHABLE
    except httpx.InvalidURL as exc:
        message, status = f"invalid server URL {url!r} ({exc})", USAGE
    except KeyboardInterrupt:
        message, status = "interrupted", REFUSED
    print(f"assets-registry: {message}", file=sys.stderr)
    return status


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
