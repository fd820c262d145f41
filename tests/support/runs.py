"""A billing run as the tests see it from the outside: the `run`/`status` commands' JSON,
and what the database holds (the run's invoices, row counts)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

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


def wait_for_final_status(
    env: Env, run_id: int, timeout: float, logs: Callable[[], str] | None = None
) -> dict[str, Any]:
    """`invoicing status --json` once the run is no longer rendering or merging; the test
    fails, showing the last status (and the end of `logs()`, the workers' logs), if it
    still is after `timeout` seconds (a guard against a hang, not a wait: it returns as
    soon as the status changes)."""
    deadline = time.monotonic() + timeout
    while True:
        status = status_of(env, run_id)
        if status["status"] not in ("rendering", "merging"):
            return status
        if time.monotonic() > deadline:
            tail = f"\n{logs()[-6000:]}" if logs is not None else ""
            pytest.fail(f"run {run_id} still {status['status']} after {timeout} s: {status}{tail}")
        time.sleep(0.2)


def import_fixtures() -> None:
    """The bundled fixtures in this process's database (made if need be), without a
    command: for tests of the library under the CLI."""
    from invoicing.billing.importer import import_data, load_file
    from invoicing.db import init_db
    from tests.support.factories import FIXTURES

    init_db()
    with session_scope() as session:
        import_data(session, load_file(FIXTURES))


def issue_run(**values: object) -> int:
    """The fixtures' October run, issued in this process (19 pending invoices) and sent
    nowhere; `values` are set on its row (a status, who dispatched it and when)."""
    from invoicing.billing import Period, create_run
    from invoicing.config import get_settings

    import_fixtures()
    with session_scope() as session:
        run = create_run(session, get_settings(), Period(2026, 10))
        for name, value in values.items():
            setattr(run, name, value)
        return run.id


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


# The backends of other sessions waiting for a lock on billing_runs, and what they run.
WAITING_ON_RUNS = text(
    """
    SELECT activity.pid, activity.query
    FROM pg_locks AS lock JOIN pg_stat_activity AS activity ON activity.pid = lock.pid
    WHERE lock.relation = 'billing_runs'::regclass AND NOT lock.granted
      AND activity.pid <> pg_backend_pid()
    """
)


def run_at_once(env: Env, *args: str, count: int = 2, timeout: float = 240) -> list[dict[str, Any]]:
    """Start `count` `invoicing run --json ARGS` commands and release them together from
    inside the transaction that creates the run; their summaries, once every one has
    exited 0.

    A race forced, not hoped for (PostgreSQL only): the test's own connection holds a
    SHARE lock on billing_runs, which the run's INSERT must wait for, while each command
    reads the period's runs (none yet, or only finished ones) and comes to that INSERT.
    Only once the server shows every command's backend waiting on the lock is it let
    go; if they do not all get there, the test fails: it would have been no race.
    """
    database_url = env.vars["INVOICING_DATABASE_URL"]
    assert make_url(database_url).get_backend_name() == "postgresql", "a forced race needs PostgreSQL"
    engine = create_engine(database_url)
    procs: list[subprocess.Popen[str]] = []
    try:
        with engine.connect() as holder:
            holder.execute(text("LOCK TABLE billing_runs IN SHARE MODE"))
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
            waiting: dict[int, str] = {}

            def all_waiting() -> bool:
                nonlocal waiting
                with engine.connect() as watcher:
                    waiting = {pid: query for pid, query in watcher.execute(WAITING_ON_RUNS)}
                return len(waiting) == count or any(proc.poll() is not None for proc in procs)

            if not wait_until(all_waiting, timeout) or len(waiting) != count:
                exited = [(p.returncode, p.communicate()[1][-2000:]) for p in procs if p.poll() is not None]
                pytest.fail(f"not every command reached the run's INSERT: waiting {waiting}, exited {exited}")
            assert all(q.lstrip().startswith("INSERT INTO billing_runs") for q in waiting.values()), waiting
            holder.rollback()  # lets them all go at once
        results = [proc.communicate(timeout=timeout) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        engine.dispose()
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    return [json.loads(out) for out, _ in results]


def late_charges(env: Env) -> None:
    """September billed; then a late September charge for a subscriber still active
    (waiting for October's invoice) and one for a subscriber who ended in September."""
    from tests.support.factories import seed_fixtures, write_json

    seed_fixtures(env)
    run_json(env, "--period", "2026-09")
    late = {
        "charges": [
            {
                "id": "late-1",
                "account": "A-0001",
                "period": "2026-09",
                "description": "Roaming [bold]late[/bold]",
                "quantity": "1",
                "unit_price": "4.20",
            },
            {
                "id": "late-2",
                "account": "A-0010",
                "period": "2026-09",
                "description": "Last call",
                "quantity": "2",
                "unit_price": "0.50",
            },
        ]
    }
    env.cli("import", write_json(env, late, "late.json"), check=True)
