"""Fixtures, built from tests/support: a throw-away database and output folder per test,
real Redis with this test run's own database number and key prefix, real worker
processes, and a fresh PostgreSQL database where concurrency matters.

Markers follow from the fixtures a test uses (see MARKERS_BY_FIXTURE), so
`-m "not postgres"` and the like select by what a test really needs.
"""

from __future__ import annotations

import compileall
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before tests.support is imported: its assertions report their values as a test's do.
pytest.register_assert_rewrite("tests.support")

from hypothesis import settings  # noqa: E402

from tests.support import envs  # noqa: E402
from tests.support.envs import Env  # noqa: E402
from tests.support.paths import ROOT  # noqa: E402
from tests.support.s3 import SeaweedS3, use_s3  # noqa: E402
from tests.support.smtp import SmtpServer  # noqa: E402
from tests.support.webhooks import Receivers  # noqa: E402
from tests.support.workers import PrivateRedis, Workers  # noqa: E402

# Hypothesis: properties that name no example count of their own get the profile's.
# "suite" (the default) bounds them for a run of the whole suite; HYPOTHESIS_PROFILE=thorough
# tries ten times as many.
settings.register_profile("suite", max_examples=20, deadline=None)
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

# A test that uses one of these fixtures, directly or through another, gets the marks.
MARKERS_BY_FIXTURE = {
    "redis_env": ("redis",),
    "private_redis": ("redis",),
    "workers": ("workers",),
    "private_workers": ("workers",),
    "pg_env": ("postgres",),
    "s3_server": ("s3",),
    "own_s3": ("s3",),
}


def pytest_configure(config: pytest.Config) -> None:
    # The processes the tests start (`invoicing`, `celery worker`, the bench's children)
    # import the package from bytecode, as from an installed wheel. Under an editable
    # install with PYTHONDONTWRITEBYTECODE set (CI's machine sets it), each of them
    # compiled the package's 100 modules from source: 0.1 s of CPU per process, about
    # 1,000 processes a suite. Once, in the controller, before xdist starts its workers.
    if not hasattr(config, "workerinput"):
        compileall.compile_dir(ROOT / "invoicing", quiet=1)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by them
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marks in MARKERS_BY_FIXTURE.items():
            if fixture in used:
                for mark in marks:
                    item.add_marker(mark)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """Embedded mode: SQLite file and output folder in tmp_path, no broker."""
    e = envs.embedded(tmp_path)
    e.apply(monkeypatch)
    yield e
    envs.forget_engines()
    monkeypatch.undo()
    envs.reset_settings()


@pytest.fixture
def redis_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """Broker and results on the shared Redis, in our own database under our own prefix."""
    with envs.shared_redis(env):
        env.apply(monkeypatch)
        yield env


@pytest.fixture
def pg_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    with envs.fresh_postgres(env):
        env.apply(monkeypatch)
        yield env


@pytest.fixture
def workers(redis_env: Env) -> Iterator[Workers]:
    group = Workers(redis_env)
    yield group
    group.stop()


@pytest.fixture
def private_redis(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateRedis]:
    """A redis-server of the test's own (for tests that restart it)."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (.ci/run installs it)")
    server = PrivateRedis(env.path)
    server.start()
    env.vars["INVOICING_BROKER_URL"] = server.url
    env.vars["INVOICING_QUEUE"] = "invoicing"
    env.apply(monkeypatch)
    yield server
    server.kill()


@pytest.fixture
def private_workers(private_redis: PrivateRedis, env: Env) -> Iterator[Workers]:
    """Workers on this test's own redis-server."""
    group = Workers(env)
    yield group
    group.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """An SMTP server on loopback that accepts every message (tests/support/smtp.py)."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def receivers() -> Iterator[Receivers]:
    """Webhook receivers on loopback that the test adds (`receivers.add(env)`), stopped after it."""
    made = Receivers()
    yield made
    made.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """One SeaweedFS S3 server for the session; each test writes under its own prefix."""
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(env: Env, s3_server: SeaweedS3, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """`env` with INVOICING_OUTPUT_DIR=s3://invoices/<prefix of its own> and the AWS_*
    variables for the session's server (full access)."""
    use_s3(env, s3_server)
    env.apply(monkeypatch)
    yield env


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[SeaweedS3]:
    """An S3 server of the test's own, for tests that stop and start it."""
    server = SeaweedS3(tmp_path / "seaweedfs")
    server.start()
    yield server
    server.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # AsyncResults of tasks the tests sent unsubscribe from Redis in __del__; collect
    # them now, while Redis still answers, not at interpreter exit.
    import gc

    from celery.result import AsyncResult

    gc.collect()
    for result in [o for o in gc.get_objects() if isinstance(o, AsyncResult)]:
        if hasattr(result.backend, "result_consumer"):
            result.backend.remove_pending_result(result)
