"""Test environments: the INVOICING_* variables a user would export, used both for the
commands a test runs (in their own process, or in this one through click's CliRunner)
and for the test process itself.

Embedded mode is a SQLite file and an output folder in the test's tmp_path. The shared
Redis is used in this test run's own database number (INVOICING_TEST_REDIS_DB) under a
key prefix and queue of the test's own; PostgreSQL gets a fresh database per test.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.support.forked import run_cli

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
REDIS_DB = int(os.environ.get("INVOICING_TEST_REDIS_DB", "13"))
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


@dataclass
class Env:
    """Environment for one test: what a user would export before running commands."""

    path: Path
    vars: dict[str, str] = field(default_factory=dict)

    def environ(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVOICING_")}
        env.update(self.vars)
        env.update(extra)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def cli(
        self, *args: str, timeout: float = 240, check: bool = False, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """Run the real `invoicing` command in its own process (`forked`)."""
        proc = run_cli(list(args), self.path, self.environ(**extra), timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"invoicing {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def invoke(self, *args: str, **extra: str) -> Result:
        """Run `invoicing ARGS` in this process through click's CliRunner, for what needs
        no process of its own (usage errors, help). Needs `apply` first (the fixtures do).

        `extra` variables hold for this call only. The command's logging set-up (it
        replaces the root logger's handlers) is undone afterwards.
        """
        from invoicing.cli import main
        from invoicing.config import get_settings

        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        get_settings.cache_clear()
        try:
            # The working directory is the test's, as for `cli`: no .env of the repository.
            with contextlib.chdir(self.path):
                return CliRunner().invoke(
                    main, list(args), prog_name="invoicing", env=extra or None, catch_exceptions=False
                )
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
            reset_settings()

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Use this environment in the test process too (settings and the Celery app)."""
        for key in list(os.environ):
            if key.startswith("INVOICING_"):
                monkeypatch.delenv(key)
        for key, value in self.vars.items():
            monkeypatch.setenv(key, value)
        reset_settings()


def reset_settings() -> None:
    """Read the settings again and apply them to the Celery app of this process."""
    from invoicing.celery import configure
    from invoicing.config import get_settings

    get_settings.cache_clear()
    configure()


def embedded(path: Path) -> Env:
    """Embedded mode: SQLite file and output folder under `path`, no broker."""
    return Env(
        path,
        {
            "INVOICING_DATABASE_URL": f"sqlite:///{path / 'invoicing.db'}",
            "INVOICING_OUTPUT_DIR": str(path / "output"),
        },
    )


def forget_engines() -> None:
    """Close this process's pooled database connections (the test's database goes away)."""
    from invoicing.db import _engines

    for engine in list(_engines.values()):
        engine.dispose()
    _engines.clear()


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def shared_redis(env: Env) -> Iterator[Env]:
    """Broker and results on the shared Redis, in our own database under our own prefix;
    the prefix's keys are deleted afterwards."""
    import redis

    if not redis_available():
        pytest.fail("Redis is not answering on 127.0.0.1:6379 (CI starts it; see .ci/run)")
    prefix = f"invoicing-test-{uuid.uuid4().hex[:10]}:"
    env.vars.update(
        {
            "INVOICING_BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            "INVOICING_REDIS_PREFIX": prefix,
            "INVOICING_QUEUE": f"q-{prefix.rstrip(':')}",
        }
    )
    yield env
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    # kombu keeps fanout/binding keys without the prefix too; only touch our own.
    if keys:
        client.delete(*keys)


@contextlib.contextmanager
def fresh_postgres(env: Env) -> Iterator[Env]:
    """A new PostgreSQL database for `env`, dropped afterwards (connections and all)."""
    from sqlalchemy import create_engine, text

    name = f"invoicing_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - report the real reason
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is not usable: {exc}")
    env.vars["INVOICING_DATABASE_URL"] = f"{PG_SERVER}/{name}"
    try:
        yield env
    finally:
        forget_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
