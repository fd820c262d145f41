"""Where the run's files live: the local output folder, or an S3 prefix.

`store_for(settings)` is the configured output storage; `store_at(location)` is the one
holding a recorded location (an earlier run's files may be elsewhere than today's
setting). Locations are strings: an absolute local path, or ``s3://bucket/key``. Both
backends give the same guarantees: a file is visible only whole, a batch's files are
in place before the rows saying so commit, the merged file is written as a stream.
boto3 is imported only when an s3:// location is used.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from invoicing.storage.base import Staged, Store
from invoicing.storage.errors import ChecksumMismatch, StorageError
from invoicing.storage.location import is_s3, parse_s3

if TYPE_CHECKING:
    from invoicing.config import Settings

__all__ = [
    "ChecksumMismatch",
    "Staged",
    "StorageError",
    "Store",
    "is_s3",
    "parse_s3",
    "present",
    "read",
    "store_at",
    "store_for",
]


def store_for(settings: Settings) -> Store:
    return _store(str(settings.output_dir), settings.connect_timeout_s)


def _store(root: str, connect_timeout: float) -> Store:
    if is_s3(root):
        return _s3_store(root, connect_timeout, _aws_environment())
    from invoicing.storage.local import LocalStore

    return LocalStore(root)  # resolved now: a relative folder follows the working directory


def store_at(location: str) -> Store:
    """The store that holds a recorded location."""
    if is_s3(location):
        from invoicing.config import get_settings

        settings = get_settings()
        configured = str(settings.output_dir)
        if is_s3(configured) and parse_s3(configured).bucket == parse_s3(location).bucket:
            return store_for(settings)
        return _store(f"s3://{parse_s3(location).bucket}", settings.connect_timeout_s)
    return _store("/", 3.0)


def read(location: str, sha256: str | None = None) -> bytes:
    """A recorded file's bytes, checked against its recorded sha256 when given."""
    return store_at(location).read(location, sha256)


def present(locations: Iterable[str]) -> set[str]:
    """The recorded locations whose file exists: a local file each, an S3 folder by one
    listing (not a HEAD per invoice)."""
    found: set[str] = set()
    folders: dict[str, set[str]] = {}
    for location in locations:
        if is_s3(location):
            folders.setdefault(posixpath.dirname(location), set()).add(location)
        elif store_at(location).exists(location):
            found.add(location)
    for folder, wanted in folders.items():
        found.update(wanted.intersection(store_at(folder).list(folder)))
    return found


_AWS_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)


def _aws_environment() -> str:
    """A digest of the AWS_* variables boto3 reads (never the values themselves)."""
    return hashlib.sha256(repr([os.environ.get(name) for name in _AWS_VARIABLES]).encode()).hexdigest()


@lru_cache(maxsize=16)
def _s3_store(root: str, connect_timeout: float, aws_environment: str) -> Store:
    """One per root and AWS environment: it keeps its boto3 client (per process) and
    connection pool."""
    from invoicing.storage.s3 import S3Store

    return S3Store(root, connect_timeout)
