"""Storage errors: OSError subclasses, so every caller that already handles a full or
unwritable folder handles a bucket that refuses a write the same way."""

from __future__ import annotations


class StorageError(OSError):
    """One object could not be read or written; `transient` if trying again may work
    (connection refused or reset, timeouts, 5xx, SlowDown)."""

    def __init__(self, message: str, transient: bool = False, missing: bool = False) -> None:
        super().__init__(None, message)
        self.transient = transient
        self.missing = missing

    def __str__(self) -> str:
        return str(self.strerror)


class ChecksumMismatch(StorageError):
    """The bytes read are not the ones recorded (sha256 differs)."""
