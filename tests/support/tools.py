"""External programs some checks use (poppler, qpdf). `.ci/run` installs every one of
them, so a missing one fails the test that needs it, naming the package: a check that
skipped itself would pass without checking."""

from __future__ import annotations

import shutil

import pytest


def require_tool(name: str, package: str, purpose: str) -> str:
    """The path of `name`; the test fails, saying what cannot be checked, without it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not installed ({package}; .ci/run installs it): {purpose} cannot be checked")
    return path
