"""A billing run as the tests see it from the outside: the `run`/`status` commands' JSON,
and what the database holds (the run's invoices, row counts)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from invoicing.db import session_scope
from invoicing.models import Invoice, Subscriber
from tests.support.envs import Env
from tests.support.paths import BIN

# What `run --json` prints, and what `status --json` adds to.
SUMMARY_KEYS = {"run_id", "period", "status", "invoices", "failed", "pages", "output", "sha256", "volumes"}


def run_json(env: Env, *args: str, expect: int = 0, **extra: str) -> dict[str, Any]:
    """`invoicing run --json ARGS`, which must exit with `expect`; its summary."""
    proc = env.cli("run", "--json", *args, **extra)
    assert proc.returncode == expect, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == SUMMARY_KEYS
    return data


def status_of(env: Env, run_id: int) -> dict[str, Any]:
    proc = env.cli("status", str(run_id), "--json")
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def summary_of(status: dict[str, Any]) -> dict[str, Any]:
    """The part of `status --json` that `run --json` prints too."""
    return {k: status[k] for k in SUMMARY_KEYS}


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def wait_for_final_status(env: Env, run_id: int, timeout: float) -> dict[str, Any]:
    """`invoicing status --json` once the run is no longer rendering or merging."""
    deadline = time.monotonic() + timeout
    while True:
        status = status_of(env, run_id)
        if status["status"] not in ("rendering", "merging") or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def invoices_of(run_id: int) -> list[Invoice]:
    with session_scope() as session:
        return list(
            session.scalars(select(Invoice).where(Invoice.run_id == run_id).order_by(Invoice.seq)).all()
        )


def names_by_subscriber() -> dict[int, str]:
    with session_scope() as session:
        return dict(session.execute(select(Subscriber.id, Subscriber.name)).all())


def count_rows(model: type) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def run_at_once(env: Env, *args: str, count: int = 2, timeout: float = 240) -> list[dict[str, Any]]:
    """Start `count` `invoicing run --json ARGS` commands at the same instant; their
    summaries, once every one has exited 0."""
    procs = [
        subprocess.Popen(
            [str(BIN / "invoicing"), "run", "--json", *args],
            cwd=env.path,
            env=env.environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = [proc.communicate(timeout=timeout) for proc in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    return [json.loads(out) for out, _ in results]
