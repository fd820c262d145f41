"""Resident memory of the bench's processes, as Linux reports it (0 elsewhere)."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb(pid: int | str = "self") -> float:
    """VmHWM: a process's peak resident set size, in MiB (Linux; 0 elsewhere)."""
    return _status_mb(pid, "VmHWM:")


def current_rss_mb() -> float:
    """VmRSS: this process's resident set size now, in MiB (Linux; 0 elsewhere)."""
    return _status_mb("self", "VmRSS:")


def _status_mb(pid: int | str, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def reaped_peak_rss_mb() -> float:
    """The largest peak resident set size, in MiB, of the processes this one started and
    reaped, and of those they reaped in turn (getrusage(2) keeps it): the bench's import
    and its worker, read before its outline reader starts. Not a pool process its worker
    left to init."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Start a fresh VmHWM measurement for this process (Linux; best effort)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
