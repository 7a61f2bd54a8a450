"""Bodies and sinks of the client's transfers: every byte streams, none is held whole.

An upload sends a ZIP file exactly as large as it was when the request's ``Content-Length``
was computed (a file that shrinks or grows meanwhile fails here, not as a body that disagrees
with its header), or a folder zipped while it is sent (stream-zip, deflated at level 1, sent
chunked since its length is not known before): never a temporary copy. A download is written
to a hidden file beside its target and renamed only once every byte announced has arrived, so
a cut-off download never leaves a file that looks whole; a resumed one appends to the partial
copy, which ``RegistryClient.download_file`` then checks against the file's SHA-256.
"""

from __future__ import annotations

import os
import stat
import uuid
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import httpx
from stream_zip import ZIP_64, stream_zip

CHUNK = 1 << 20
FILE_FIELD = "file"
Progress = Callable[[int, int | None], None]
"""Called with the bytes moved so far and the total (None when unknown)."""


class TransferError(Exception):
    """A transfer that failed on this side: a file that cannot be read or written, a cut-off stream."""


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


def file_body(source: IO[bytes], size: int, preamble: bytes, epilogue: bytes, progress: Progress) -> Iterator[bytes]:
    """The body around exactly ``size`` bytes of ``source``, a chunk at a time."""
    yield preamble
    left, sent = size, 0
    while left:
        chunk = _read(source, min(CHUNK, left))
        if not chunk:
            raise TransferError(f"{source.name} shrank while it was being uploaded")
        left, sent = left - len(chunk), sent + len(chunk)
        progress(sent, size)
        yield chunk
    if _read(source, 1):
        raise TransferError(f"{source.name} grew while it was being uploaded")
    yield epilogue


def folder_files(folder: Path) -> list[tuple[str, Path, int]]:
    """``(member name, path, size)`` of every regular file under ``folder``, sorted; the folder
    must hold ``asset.json`` at its top, as a bundle does (docs/bundles.md)."""
    if not (folder / "asset.json").is_file():
        raise TransferError(f"{folder} has no asset.json at its top: a bundle's folder holds one (docs/bundles.md)")
    found = []
    for path in sorted(folder.rglob("*")):
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise TransferError(f"{path} is a symbolic link; copy the file it names into the folder instead")
        if stat.S_ISREG(mode):
            found.append((path.relative_to(folder).as_posix(), path, path.stat().st_size))
    return found


def folder_body(
    files: list[tuple[str, Path, int]], preamble: bytes, epilogue: bytes, progress: Progress
) -> Generator[bytes, None, None]:
    """The body around a ZIP of ``files`` (``folder_files``'s) made while it is sent; progress
    counts the files' bytes."""
    total, read = sum(size for _name, _path, size in files), [0]

    def content(path: Path) -> Iterator[bytes]:
        with _open(path) as source:
            while chunk := _read(source, CHUNK):
                read[0] += len(chunk)
                progress(read[0], total)
                yield chunk

    def members() -> Iterable[tuple[str, datetime, int, Any, Iterable[bytes]]]:
        for name, path, _size in files:
            modified = datetime.fromtimestamp(max(path.stat().st_mtime, 315532800))  # ZIP dates start in 1980
            yield name, modified, 0o644, ZIP_64, content(path)

    yield preamble
    yield from stream_zip(members(), chunk_size=CHUNK, get_compressobj=lambda: zlib.compressobj(1, wbits=-15))
    yield epilogue


def _open(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except OSError as exc:
        raise TransferError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read(source: IO[bytes], size: int) -> bytes:
    try:
        return source.read(size)
    except OSError as exc:
        raise TransferError(f"cannot read {source.name}: {exc.strerror or exc}") from None


def save(response: httpx.Response, target: Path | IO[bytes], what: str, progress: Progress, have: int = 0) -> None:
    """The body of ``response`` into ``target``: a stream, a file appended to (``have`` bytes
    are there already, a 206 continues them), or a file replaced once complete."""
    length = response.headers.get("Content-Length")
    expected = int(length) if length and length.isdigit() else None
    if not isinstance(target, Path):
        _check(what, copy(response, target, progress, have) - have, expected)
        return
    if have:
        with _open_for(target, "ab") as sink:
            _check(what, copy(response, sink, progress, have) - have, expected)
        return
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        # os.open, unlike tempfile, honours the umask: the renamed file gets normal permissions.
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise TransferError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(descriptor, "wb") as sink:
            _check(what, copy(response, sink, progress), expected)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _open_for(target: Path, mode: str) -> IO[bytes]:
    try:
        return target.open(mode)
    except OSError as exc:
        raise TransferError(f"cannot write {target}: {exc.strerror or exc}") from None


def copy(response: httpx.Response, sink: IO[bytes], progress: Progress, done: int = 0) -> int:
    """Write the body as it arrives; the bytes written in all (``done`` were there before)."""
    length = response.headers.get("Content-Length")
    total = done + int(length) if length and length.isdigit() else None
    try:
        for chunk in response.iter_bytes():  # as it arrives (httpx reads 64 KiB at a time)
            sink.write(chunk)
            done += len(chunk)
            progress(done, total)
    except OSError as exc:
        raise TransferError(f"cannot write the download: {exc.strerror or exc}") from None
    except httpx.TransportError as exc:
        raise TransferError(f"the download was cut off after {done} bytes ({_reason(exc)})") from None
    return done


def _check(what: str, received: int, expected: int | None) -> None:
    if expected is not None and received != expected:
        raise TransferError(f"the download of {what} is incomplete: {received} of {expected} bytes arrived")


def _reason(exc: Exception) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
