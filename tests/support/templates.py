"""Databases the tests start from, made once per test process by the real commands and
copied for each test that starts from the same data: `db init` and `db seed` cost about
3 s of CPU in their own processes, and a hundred tests start from the same few databases.

Copies are made with SQLite's backup API, which also takes what still sits in the
template's write-ahead log.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.engine import make_url

if TYPE_CHECKING:  # a fresh process imports the factories without pytest
    from tests.support.envs import Env

T = TypeVar("T")

_MADE: dict[str, tuple[Path, object]] = {}
_ROOT: list[Path] = []


def made_once(key: str, make: Callable[[Env], T]) -> tuple[Path, T]:
    """The folder of an embedded environment that `make` filled, once per test process
    for `key`, and what `make` returned. The folder is read only to the tests."""
    if key not in _MADE:
        from tests.support.envs import embedded

        if not _ROOT:
            _ROOT.append(Path(tempfile.mkdtemp(prefix="invoicing-templates-")))
            atexit.register(shutil.rmtree, _ROOT[0], True)
        folder = _ROOT[0] / str(len(_MADE))
        folder.mkdir()
        _MADE[key] = (folder, make(embedded(folder)))
    folder, made = _MADE[key]
    return folder, made  # type: ignore[return-value]


def sqlite_file(env: Env) -> Path | None:
    """The SQLite file `env` bills on, or None on another database."""
    url = make_url(env.vars["INVOICING_DATABASE_URL"])
    return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None


def copy_database(folder: Path, env: Env) -> None:
    """The template database of `folder` as `env`'s own."""
    database = sqlite_file(env)
    assert database is not None, "a template is a SQLite file"
    with contextlib.closing(sqlite3.connect(folder / "invoicing.db")) as source:
        with contextlib.closing(sqlite3.connect(database)) as copy:
            source.backup(copy)
