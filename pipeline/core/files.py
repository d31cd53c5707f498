"""Files: the one sha256 helper (model files, batch fingerprints) and the owner-only permissions of what fertui
writes (new files 0600, new folders 0700; atomic replacement)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
from pathlib import Path

from pipeline.core.errors import FertuiError

BLOCK = 1 << 20


class WriteError(FertuiError):
    """A file or folder cannot be written; the message is one line for the user."""


FILE_MODE = 0o600
"""Files fertui writes are owner-only: logs, sidecars, exports and model files are biometric-derived data."""
DIR_MODE = 0o700


def make_private_dir(folder: Path) -> None:
    """Create `folder` (and missing parents) owner-only; existing folders are left as they are."""
    if folder.is_dir():
        return
    try:
        folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot create folder {folder}: {exc.strerror or exc}") from exc


def write_private_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically (tmp file + os.replace), owner-only. The temporary name is unique to
    this process and call, so two writers never write into one temporary file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        try:
            os.fchmod(fd, FILE_MODE)
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def why_unwritable(path: Path) -> str:
    """Why os.access refused to write `path`: a read-only file system (a mounted image, a read-only share) is not
    the same fix as a missing permission."""
    try:
        read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows)
        read_only = False
    return os.strerror(errno.EROFS) if read_only else "permission denied"


def overwrite_in_place(path: Path, data: bytes) -> bool:
    """Write `data` over the start of the existing file `path` and cut the rest, without allocating: only when
    `data` is no longer than the file (False otherwise, the file untouched). For a full disk, where
    write_private_atomic cannot make its temporary file; not atomic, so only as that fallback."""
    try:
        if path.stat().st_size < len(data):
            return False
        fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        write_all(fd, data)
        os.ftruncate(fd, len(data))
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
    return True


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (os.write may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def sha256_of(source: bytes | os.PathLike | str) -> str:
    """Hex sha256 of bytes, or of a file's content (read in blocks, so a 100 MB predictor needs no 100 MB)."""
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
