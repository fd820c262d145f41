"""Files that appear whole or not at all: the invoices, the pre-linked batches, the merged run.

Everything is written to a temp file beside its final name, made durable, and only then
renamed into place (and the folder fsynced, so the rename is durable too). A reader, or
a crash, never finds part of a file under its name.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

_WRITE_BUFFER = 1 << 20


def output_problem(output: Path, force: bool) -> str | None:
    """Why a command's `-o` file cannot be written, checked before any work (a folder,
    an existing file without --force, a missing or read-only folder); None if it can."""
    if output.is_dir():
        return f"-o {output}: is a directory; give a file name"
    if output.exists() and not force:
        return f"-o {output}: already exists; use --force to replace it"
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        return f"-o {output}: folder {parent} does not exist"
    if not os.access(parent, os.W_OK):
        return f"-o {output}: folder {parent} is not writable"
    return None


def file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, exclusive temp file beside `path`, with the permissions the umask gives.

    Not `tempfile.mkstemp`: its files are always 0600, so a print shop's or web server's
    user could not read the shared output folder. Created 0666 & ~umask, like any file.
    """
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temp file beside {path}")


_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


@contextmanager
def _temp_beside(path: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A new temp file in `path`'s folder, open for writing; removed if the block raises."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb", buffering=_WRITE_BUFFER) as handle:
            yield handle, tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_file(output: Path) -> Iterator[BinaryIO]:
    """One file: written to a temp file, fsynced and renamed over `output`; removed on error."""
    with _temp_beside(output) as (handle, tmp):
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        os.replace(tmp, output)
    sync_directory(output.parent)


def sync_directory(path: Path) -> None:
    """fsync a directory so that renames in it are durable (best effort)."""
    try:
        dir_fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


try:  # Linux syncfs(2); the os module has only fsync and a system-wide sync
    _SYNCFS: Callable[[int], int] | None = ctypes.CDLL(None, use_errno=True).syncfs
except (OSError, AttributeError):  # pragma: no cover - not Linux/glibc
    _SYNCFS = None


def _syncfs(directory: Path) -> bool:
    """Flush the whole file system holding `directory` in one call; False where unsupported."""
    if _SYNCFS is None:
        return False
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return False
    try:
        return _SYNCFS(fd) == 0
    finally:
        os.close(fd)


class StagedFiles:
    """Many files (a batch's invoices): written to temp files, made durable together, then
    renamed into place.

    The guarantee of one `atomic_file` per file for one syncfs per batch instead of one
    fsync per file, which on this project's machine was about a fifth of the time a
    header task spent per invoice. Where syncfs is missing or reports an error, each file
    is fsynced, so an error names its file.
    """

    def __init__(self) -> None:
        self._staged: dict[Any, tuple[Path, Path]] = {}
        self._folders: set[Path] = set()  # made (or found) by this batch: one mkdir each

    def write(self, key: Any, path: Path, data: bytes) -> None:
        # The bytes are whole in memory: written straight to the descriptor, without
        # the 1 MiB buffer of a streamed file (most invoices are 20 kB).
        folder = path.parent
        if folder not in self._folders:
            folder.mkdir(parents=True, exist_ok=True)
            self._folders.add(folder)
        fd, tmp = _create_temp(path)
        try:
            with memoryview(data) as view:
                written = 0
                while written < len(view):
                    written += os.write(fd, view[written:])
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        self._staged[key] = (tmp, path)

    def commit(self) -> dict[Any, OSError]:
        """Make every staged file durable and rename it into place; the files that failed."""
        failed: dict[Any, OSError] = {}
        folders = {path.parent for _, path in self._staged.values()}
        if not all(_syncfs(folder) for folder in folders):
            for key, (tmp, _) in self._staged.items():
                try:
                    with open(tmp, "rb") as handle:
                        os.fsync(handle.fileno())
                except OSError as exc:
                    failed[key] = exc
        for key, (tmp, path) in self._staged.items():
            if key not in failed:
                try:
                    os.replace(tmp, path)
                except OSError as exc:
                    failed[key] = exc
        for folder in folders:
            sync_directory(folder)
        # Only the temp files not renamed are left to remove: one unlink each, not one
        # per file of the batch.
        self._staged = {key: self._staged[key] for key in failed}
        self.discard()
        return failed

    def discard(self) -> None:
        """Remove the temp files not yet renamed into place."""
        for tmp, _ in self._staged.values():
            tmp.unlink(missing_ok=True)
        self._staged.clear()
