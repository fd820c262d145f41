"""External programs some checks use (poppler, qpdf). A missing one is a visible skip
(`-ra` lists it), never a check that silently passes."""

from __future__ import annotations

import shutil

import pytest


def require_tool(name: str, package: str, purpose: str) -> str:
    """The path of `name`, or skip the test saying what was not checked without it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed ({package}): {purpose} not checked")
    return path
