"""`invoicing serve` as a user starts it, on a free loopback port, for the tests that talk
to it over HTTP: its log in a file (the tests read it for tokens that must not be there),
and the tokens a test uses, made by `invoicing token create`."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.envs import Env
from tests.support.paths import BIN
from tests.support.workers import free_port


@dataclass
class Server:
    env: Env
    extra: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Any:
        return self.env.path / f"serve-{self.port}.log"

    def start(self, timeout: float = 90) -> Server:
        """Start it and return once /health answers (the timeout is a hang guard)."""
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(BIN / "invoicing"), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=self.env.path,
            env=self.env.environ(**self.extra),
            stdout=open(self.log_path, "wb"),  # noqa: SIM115 - lives as long as the server
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"invoicing serve exited {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"invoicing serve did not answer /health in {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_token(env: Env, name: str, scope: str) -> str:
    """A new token, as `invoicing token create NAME --scope SCOPE` prints it."""
    proc = env.cli("token", "create", name, "--scope", scope, check=True)
    return proc.stdout.strip()


def wait_for_run(client: httpx.Client, run_id: int, timeout: float = 180) -> dict[str, Any]:
    """GET /runs/{id} once the run is no longer rendering or merging (timeout: a hang guard)."""
    deadline = time.monotonic() + timeout
    while True:
        run = client.get(f"/runs/{run_id}").json()
        if run["status"] not in ("rendering", "merging"):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']} after {timeout} s: {run}")
        time.sleep(0.2)


def rows_in(env: Env, table: str) -> int:
    """How many rows `table` of the server's database holds (read apart from the server)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(env.vars["INVOICING_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()
