"""What INVOICING_OUTPUT_DIR names: a local folder, or ``s3://bucket/prefix``.

No imports from the rest of the package: config.py checks the setting with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# S3's bucket naming rules (3-63 of a-z 0-9 . -, starting and ending with a letter or digit).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str  # no leading or trailing "/"; "" for the bucket's top

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.key else f"s3://{self.bucket}"


def is_s3(location: str) -> bool:
    return location[:5].lower() == "s3://"


def parse_s3(location: str) -> S3Location:
    """`s3://bucket/some/prefix` -> S3Location; ValueError naming what is wrong."""
    if not is_s3(location):
        raise ValueError(f"not an s3:// URL: {location!r}")
    rest = location[5:]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ValueError(f"{location!r} names no bucket (like s3://invoices/billing)")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(f"{location!r}: {bucket!r} is not a valid S3 bucket name")
    key = key.strip("/")
    if "//" in key or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"{location!r}: the prefix has an empty, '.' or '..' part")
    return S3Location(bucket, key)
