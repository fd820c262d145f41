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
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

_WRITE_BUFFER = 1 << 20


def output_problem(output: Path, force: bool) -> str | None:
    """Why a command's `-o` file cannot be written, checked before any work (a name the
    file system refuses, a folder, an existing file without --force, a missing or
    read-only folder); None if it can. One line naming the path and the reason."""
    if str(output) == "-":
        # The commands that can send their file to standard output take `-` before this
        # (cli/common.py); anywhere else it must not become a file named `-`.
        return "-o -: standard output is not a file here; give a file name"
    shown = f"-o {shown_path(output)}"
    problem = _name_problem(output)
    if problem is not None:
        return f"{shown}: {problem}"
    try:
        if output.is_dir():
            return f"{shown}: is a directory; give a file name"
        if output.exists() and not force:
            return f"{shown}: already exists; use --force to replace it"
        parent = output.parent if str(output.parent) else Path(".")
        if not parent.exists():
            return f"{shown}: folder {parent} does not exist"
        if not parent.is_dir():
            return f"{shown}: {parent} is not a folder"
    except OSError as exc:  # a loop of symlinks, a component that is a file, no permission
        return f"{shown}: {exc.strerror or exc}"
    if not os.access(parent, os.W_OK):
        return f"{shown}: folder {parent} is not writable"
    return None


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written in `folder`, found by doing it: the folder made (with
    its parents) if missing, a file created and removed in it. Permission bits alone do
    not tell (root ignores them; a read-only mount does not show in them). One line
    naming the full path and the system's reason; None if it can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".invoicing-probe-"):
            pass
    except OSError as exc:
        return f"cannot write in {folder}: {exc.strerror or exc}"
    return None


_SHOWN_PART = 24  # characters kept at each end of a name too long to print whole


def shown_path(output: Path) -> str:
    """The path as given, each name of more than about 50 characters cut in its middle
    (the message names the path; a 300-character name would drown the reason)."""
    parts = [
        f"{part[:_SHOWN_PART]}…{part[-_SHOWN_PART:]}" if len(part) > 2 * _SHOWN_PART + 3 else part
        for part in str(output).split(os.sep)
    ]
    return os.sep.join(parts)


_NAME_MAX, _PATH_MAX = 255, 4096  # where pathconf cannot tell (Linux's, and most systems')


def _limit(folder: Path, name: str, default: int) -> int:
    try:
        value = os.pathconf(folder, name)
    except (OSError, ValueError, AttributeError):  # unknown name, no pathconf (Windows)
        return default
    return value if value > 0 else default


def _name_problem(output: Path) -> str | None:
    """A name the file system would refuse only once the work is done: a component over
    NAME_MAX, a file name whose temp file (written first, beside it) is, a path over
    PATH_MAX. The limits are those of the nearest folder that exists."""
    absolute = Path(os.path.abspath(output))
    existing = absolute.parent
    while not os.path.isdir(existing) and existing != existing.parent:
        existing = existing.parent
    name_max = _limit(existing, "PC_NAME_MAX", _NAME_MAX)
    path_max = _limit(existing, "PC_PATH_MAX", _PATH_MAX)
    for folder in absolute.parent.parts:
        size = len(os.fsencode(folder))
        if size > name_max:
            return f"folder name too long ({size} bytes; the file system allows {name_max})"
    size, room = len(os.fsencode(absolute.name)), name_max - _TEMP_EXTRA
    if size > room:
        return (
            f"file name too long ({size} bytes; at most {room} here: the file system allows "
            f"{name_max}, and the file is written under a temp name {_TEMP_EXTRA} bytes longer first)"
        )
    size = len(os.fsencode(absolute)) + _TEMP_EXTRA
    if size >= path_max:
        allowed = path_max - 1 - _TEMP_EXTRA  # PATH_MAX counts the terminating NUL
        return f"path too long ({size - _TEMP_EXTRA} bytes; at most {allowed} here)"
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
        tmp = path.parent / _temp_name(path.name, secrets.token_hex(_TEMP_TOKEN))
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temp file beside {path}")


_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_TEMP_TOKEN = 6  # random bytes, 12 hex digits


def _temp_name(name: str, token: str) -> str:
    return f".{name}.{token}.tmp"


# How much longer a temp file's name is than its file's: a name that fits NAME_MAX only
# without this would fail after the work, at the first write.
_TEMP_EXTRA = len(_temp_name("", "0" * 2 * _TEMP_TOKEN))


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
