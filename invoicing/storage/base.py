"""The interface both backends implement: locations are strings, an absolute local path
or ``s3://bucket/key``, and they are what the rows record (Invoice.pdf_path,
BillingRun.output_path)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any, BinaryIO


class Staged(ABC):
    """A batch of small files, visible under their names only once committed."""

    @abstractmethod
    def write(self, key: Any, location: str, data: bytes) -> None: ...

    @abstractmethod
    def commit(self) -> dict[Any, OSError]:
        """Put every staged file in place; the ones that failed, by key. A transient
        error (the storage is away) raises instead, so that the whole batch is retried."""

    @abstractmethod
    def discard(self) -> None:
        """Drop what was staged and not committed (no temp file is left behind)."""


class Store(ABC):
    """The output storage: a local folder or an S3 prefix."""

    root: str

    @abstractmethod
    def join(self, *names: str) -> str:
        """The location of `names` below the root."""

    @abstractmethod
    def read(self, location: str, sha256: str | None = None) -> bytes:
        """The whole object; ChecksumMismatch if `sha256` is given and differs."""

    @abstractmethod
    def open(self, location: str) -> BinaryIO:
        """The object for streaming reads (close it)."""

    @abstractmethod
    def exists(self, location: str) -> bool: ...

    @abstractmethod
    def size(self, location: str) -> int | None:
        """The object's length in bytes; None if there is no such object."""

    @abstractmethod
    def sha256(self, location: str) -> str | None:
        """The sha256 of the object's bytes, streamed; None if there is no such object."""

    @abstractmethod
    def staged(self) -> Staged: ...

    @abstractmethod
    def writer(self, location: str) -> AbstractContextManager[BinaryIO]:
        """One large object written as a stream, visible only whole once the block ends;
        nothing is left if the block raises."""

    @abstractmethod
    def list(self, prefix: str, suffix: str = "", start: str = "") -> list[str]:
        """The objects directly below the location `prefix` whose names begin with `start`
        and end with `suffix`, sorted. `start` narrows the listing itself (a run's volumes
        among the period's 100,000 invoice files), not only its result."""

    @abstractmethod
    def remove(self, location: str) -> None:
        """Remove one file or object if it is there."""

    @abstractmethod
    def remove_tree(self, prefix: str) -> None:
        """Remove everything below `prefix` (best effort)."""

    @abstractmethod
    def check(self) -> None:
        """Before anything is dispatched: UsageError (exit 2) for a missing bucket or
        credentials that are refused, InvoicingError (exit 1) for an unreachable server."""

    def relative(self, location: str) -> str:
        """`location` relative to the root where it is below it, else unchanged."""
        root = self.root.rstrip("/") + "/"
        return location[len(root) :] if location.startswith(root) else location
