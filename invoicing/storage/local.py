"""The output folder on a local (or shared) file system: files.py's durable writes,
unchanged (temp file beside the name, fsync or one syncfs per batch, rename)."""

from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO

from invoicing.files import StagedFiles, atomic_file, file_sha256
from invoicing.storage.base import Staged, Store
from invoicing.storage.errors import ChecksumMismatch


class LocalStaged(Staged):
    def __init__(self) -> None:
        self.files = StagedFiles()

    def write(self, key: Any, location: str, data: bytes) -> None:
        self.files.write(key, Path(location), data)

    def commit(self) -> dict[Any, OSError]:
        return self.files.commit()

    def discard(self) -> None:
        self.files.discard()


class LocalStore(Store):
    def __init__(self, root: Path | str) -> None:
        self.root = str(Path(root).resolve())

    def join(self, *names: str) -> str:
        return os.path.join(self.root, *names)

    def read(self, location: str, sha256: str | None = None) -> bytes:
        data = Path(location).read_bytes()
        if sha256 and hashlib.sha256(data).hexdigest() != sha256:
            raise ChecksumMismatch(f"{location}: sha256 differs from the one recorded")
        return data

    def open(self, location: str) -> BinaryIO:
        return open(location, "rb")

    def exists(self, location: str) -> bool:
        return Path(location).is_file()

    def size(self, location: str) -> int | None:
        path = Path(location)
        return path.stat().st_size if path.is_file() else None

    def sha256(self, location: str) -> str | None:
        path = Path(location)
        if not path.is_file():
            return None
        try:
            return file_sha256(path)[0]
        except OSError:
            return None

    def staged(self) -> Staged:
        return LocalStaged()

    def writer(self, location: str) -> AbstractContextManager[BinaryIO]:
        return atomic_file(Path(location))

    def list(self, prefix: str, suffix: str = "", start: str = "") -> list[str]:
        # Files only, as S3 lists objects: a folder is no object, whatever its name (the
        # directory entry says which, no stat per file).
        folder = Path(prefix)
        try:
            with os.scandir(folder) as entries:
                return sorted(
                    entry.path  # the folder joined with the name, made by scandir itself
                    for entry in entries
                    if entry.name.startswith(start) and entry.name.endswith(suffix) and entry.is_file()
                )
        except (FileNotFoundError, NotADirectoryError):
            return []

    def remove(self, location: str) -> None:
        Path(location).unlink(missing_ok=True)

    def remove_tree(self, prefix: str) -> None:
        remove_folder(prefix)

    def check(self) -> None:
        """Nothing to check up front: a folder is created when the first file is written."""


def remove_folder(path: Path | str) -> None:
    """Remove a folder and everything in it, best effort, one entry at a time.

    Not shutil.rmtree alone: it lists each folder whole before removing any of it, and a
    million invoices' folder listed took the bench's process from 222 to 371 MB (20,000
    files: 2.87 MB traced, against under 0.2 MB one entry at a time)."""
    for _ in range(3):  # a folder read while removed from may hide a few of its entries
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        remove_folder(entry.path)
                    else:
                        os.unlink(entry.path)
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            continue
    shutil.rmtree(path, ignore_errors=True)
