"""Shared fixtures: a throw-away database and output folder per test, real Redis with
this test run's own database number and key prefix, real worker processes, and a
fresh PostgreSQL database where concurrency matters.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from invoicing.pdf.documents import Seller

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "invoicing.json"
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
REDIS_DB = int(os.environ.get("INVOICING_TEST_REDIS_DB", "13"))
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent
# The seller on the invoices the render and merge tests make.
SELLER = Seller(
    name="Nordlicht Telecom GmbH",
    address=("Hafenstraße 12", "20457 Hamburg", "Germany"),
    tax_id="DE123456789",
    email="billing@nordlicht.example",
    iban="DE89370400440532013000",
    bic="COBADEFFXXX",
    bank="Commerzbank Hamburg",
)


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
        """Run the real `invoicing` command in its own process."""
        proc = subprocess.run(
            [str(BIN / "invoicing"), *args],
            cwd=self.path,
            env=self.environ(**extra),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"invoicing {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def apply(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Use this environment in the test process too (settings and the Celery app)."""
        for key in list(os.environ):
            if key.startswith("INVOICING_"):
                monkeypatch.delenv(key)
        for key, value in self.vars.items():
            monkeypatch.setenv(key, value)
        reset_settings()


def reset_settings() -> None:
    from invoicing.celery import configure
    from invoicing.config import get_settings

    get_settings.cache_clear()
    configure()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """Embedded mode: SQLite file and output folder in tmp_path, no broker."""
    e = Env(
        tmp_path,
        {
            "INVOICING_DATABASE_URL": f"sqlite:///{tmp_path / 'invoicing.db'}",
            "INVOICING_OUTPUT_DIR": str(tmp_path / "output"),
        },
    )
    e.apply(monkeypatch)
    yield e
    from invoicing.db import _engines

    for engine in list(_engines.values()):
        engine.dispose()
    _engines.clear()
    monkeypatch.undo()
    reset_settings()


def redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """Broker and results on the shared Redis, in our own database under our own prefix."""
    import redis

    if not redis_available():
        pytest.fail("Redis is not answering on 127.0.0.1:6379 (CI starts it; see .ci/run)")
    prefix = f"invoicing-test-{uuid.uuid4().hex[:10]}:"
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
    env.vars.update(
        {
            "INVOICING_BROKER_URL": url,
            "INVOICING_REDIS_PREFIX": prefix,
            "INVOICING_QUEUE": f"q-{prefix.rstrip(':')}",
        }
    )
    env.apply(monkeypatch)
    yield env
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    # kombu keeps fanout/binding keys without the prefix too; only touch our own.
    if keys:
        client.delete(*keys)


@pytest.fixture
def pg_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """A fresh PostgreSQL database for this test, dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"invoicing_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - report the real reason
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is not usable: {exc}")
    env.vars["INVOICING_DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    env.apply(monkeypatch)
    yield env
    from invoicing.db import _engines

    for engine in list(_engines.values()):
        engine.dispose()
    _engines.clear()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class Workers:
    """Real `celery -A invoicing worker` processes, as a user would start them."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.beat: subprocess.Popen[bytes] | None = None
        self.replaced: set[int] = set()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, count: int = 1, concurrency: int = 2, pool: str = "prefork", **extra: str) -> None:
        for _ in range(count):
            index = len(self.procs)
            log = self.env.path / f"worker-{index}.log"
            queue = self.env.vars.get("INVOICING_QUEUE", "invoicing")
            proc = subprocess.Popen(
                [
                    str(BIN / "celery"),
                    "-A",
                    "invoicing",
                    "worker",
                    "-Q",
                    queue,
                    "--pool",
                    pool,
                    "-c",
                    str(concurrency),
                    "-n",
                    f"w{index}-{uuid.uuid4().hex[:6]}@%h",
                    "--loglevel",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=self.env.path,
                env=self.env.environ(**extra),
                stdout=open(log, "wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.procs.append(proc)
            self.logs.append(log)
        self.wait_ready(list(zip(self.procs[-count:], self.logs[-count:], strict=True)))

    @staticmethod
    def wait_ready(started: list[tuple[subprocess.Popen[bytes], Path]], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(b"ready." in log.read_bytes() for _, log in started):
                return
            for proc, log in started:
                if proc.poll() is not None:
                    raise AssertionError(f"worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(
            "workers did not become ready:\n" + "\n".join(log.read_text()[-2000:] for _, log in started)
        )

    def replace_exited(self, concurrency: int = 2) -> int:
        """Start a new worker for each one that exited, as a process supervisor would
        (docker compose's `restart: unless-stopped`); returns how many."""
        exited = [p for p in self.procs if p.poll() is not None and p.pid not in self.replaced]
        self.replaced.update(p.pid for p in exited)
        if exited:
            self.start(count=len(exited), concurrency=concurrency)
        return len(exited)

    def kill_pool_processes(self, index: int = 0) -> list[int]:
        """SIGKILL the pool processes of one worker (the tasks they were running)."""
        children = child_pids(self.procs[index].pid)
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        return children

    def kill_node(self, index: int = 0) -> None:
        """SIGKILL a whole worker: its main process and its pool, no goodbye."""
        os.killpg(self.procs[index].pid, signal.SIGKILL)
        self.procs[index].wait()

    def log_text(self) -> str:
        logs = self.logs + ([self.beat_log] if self.beat is not None else [])
        return "\n".join(log.read_text(errors="replace") for log in logs)

    def start_beat(self, **extra: str) -> None:
        log = self.beat_log = self.env.path / "beat.log"
        self.beat = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "invoicing",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.env.path / "beat-schedule"),
            ],
            cwd=self.env.path,
            env=self.env.environ(**extra),
            stdout=open(log, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.beat is not None and self.beat.poll() is None:
            os.killpg(self.beat.pid, signal.SIGKILL)
            self.beat.wait()
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def workers(redis_env: Env) -> Iterator[Workers]:
    group = Workers(redis_env)
    yield group
    group.stop()


@pytest.fixture
def private_workers(private_redis: PrivateRedis, env: Env) -> Iterator[Workers]:
    """Workers on this test's own redis-server (for tests that restart it)."""
    group = Workers(env)
    yield group
    group.stop()


def seed_fixtures(env: Env) -> None:
    env.cli("db", "init", check=True)
    env.cli("db", "seed", "--fixtures", str(FIXTURES), check=True)


class TcpProxy:
    """A loopback TCP relay the test can cut, to make a real server unreachable for a
    while (the server itself stays up for everyone else)."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        import socket
        import threading

        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst) -> None:  # noqa: ANN001
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        import socket

        self.up = False
        with self.lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
                except OSError:
                    pass
            self.connections.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()


def pdf_outline(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [item.title for item in PdfReader(path).outline]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own on a loopback port, so it can be restarted
    without touching the shared instance on 6379. No persistence, like the CI one."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.5).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, down_for: float = 1.0) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()


@pytest.fixture
def private_redis(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateRedis]:
    import shutil

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (.ci/run installs it)")
    server = PrivateRedis(env.path)
    server.start()
    env.vars["INVOICING_BROKER_URL"] = server.url
    env.vars["INVOICING_QUEUE"] = "invoicing"
    env.apply(monkeypatch)
    yield server
    server.kill()


def child_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # AsyncResults of tasks the tests sent unsubscribe from Redis in __del__; collect
    # them now, while Redis still answers, not at interpreter exit.
    import gc

    from celery.result import AsyncResult

    gc.collect()
    for result in [o for o in gc.get_objects() if isinstance(o, AsyncResult)]:
        if hasattr(result.backend, "result_consumer"):
            result.backend.remove_pending_result(result)
