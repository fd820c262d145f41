"""Where things are: the repository and the scripts of the interpreter running the tests."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `invoicing` and `celery` as installed next to this interpreter (the venv's bin/).
BIN = Path(sys.executable).parent
