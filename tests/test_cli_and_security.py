"""The CLI edge: help for every command, bad input refused with exit 2 and nothing
changed, no traceback; JSON-only workers; no credentials in any output."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import click
import pytest
from sqlalchemy import select, update

from invoicing.cli import main
from invoicing.db import session_scope
from invoicing.models import Charge, Invoice, Subscriber
from tests.support.checks import assert_run_consistent
from tests.support.envs import Env
from tests.support.factories import VALID_IMPORT, initialized, seed_fixtures
from tests.support.paths import ROOT
from tests.support.runs import count_rows, run_json
from tests.support.workers import Workers


def all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append((f"{prefix}{name}", command))
        if isinstance(command, click.Group):
            found += all_commands(command, f"{prefix}{name} ")
    return found


@pytest.mark.parametrize(("name", "command"), all_commands(main))
def test_every_command_has_help_with_an_example(env: Env, name: str, command: click.Command) -> None:
    result = env.invoke(*name.split(), "--help")
    assert result.exit_code == 0
    assert f"Usage: invoicing {name} " in result.stdout and result.stderr == ""
    assert command.help and len(command.help.strip()) > 20, name
    if not isinstance(command, click.Group):
        assert "Example:" in command.help, name


def test_contract_commands_exist() -> None:
    names = {name for name, _ in all_commands(main)}
    assert {
        "db init",
        "db seed",
        "demo",
        "render",
        "run",
        "status",
        "retry",
        "merge",
        "bench",
        "runs",
    } <= names


def test_usage_errors_are_exit_2(env: Env, tmp_path: Path) -> None:
    # given a database with data, which none of these commands may change
    seed_fixtures(env)
    cases = [
        (
            ("render", "--account", "A-0001", "--period", "2026-10", "-o", str(tmp_path / "no" / "x.pdf")),
            "does not exist",
        ),
        (("render", "--account", "A-0001", "--period", "2026-10", "-o", str(tmp_path)), "is a directory"),
        (
            ("render", "--account", "A-0001", "--period", "10/2026", "-o", str(tmp_path / "x.pdf")),
            "not a period",
        ),
        (("merge", "--period", "2026-10", "-o", str(tmp_path / "x.pdf")), "give exactly one of --accounts"),
        (("merge", "--accounts", " , ", "--period", "2026-10", "-o", str(tmp_path / "x.pdf")), "no accounts"),
        (
            (
                "merge",
                "--from-file",
                str(tmp_path / "none.txt"),
                "--period",
                "2026-10",
                "-o",
                str(tmp_path / "x.pdf"),
            ),
            "cannot read",
        ),
        (("db", "seed"), "give exactly one of --fixtures"),
        (("db", "seed", "--generate", "5"), "--generate needs --period"),
        (("status", "abc"), "is not a valid integer"),
    ]
    for args, message in cases:
        result = env.invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output
    assert not (tmp_path / "x.pdf").exists()
    assert count_rows(Invoice) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("render", "--period", "2026-10", "-o", "x.pdf"), "Missing option '--account'"),
        (("merge", "--accounts", "A-0001", "-o", "x.pdf"), "Missing option '--period'"),
        (("render", "--account", "A-0001", "--period", "2026-10"), "Missing option '-o'"),
        (("retry",), "Missing argument 'RUN_ID'"),
        (("run", "--period"), "Option '--period' requires an argument"),
        (("runs", "--limit", "0"), "'--limit': 0 is not in the range 1<=x<=10000"),
        (("db", "seed", "--generate", "0"), "'--generate': 0 is not in the range 1<=x<=10000000"),
        (("demo", "--count", "many"), "'many' is not a valid integer"),
        (("run", "--period", "2026-10", "--wait"), "No such option '--wait'. Did you mean '--no-wait'?"),
        (("invoice",), "No such command 'invoice'"),
    ],
)
def test_missing_and_malformed_arguments_are_exit_2(env: Env, args: tuple[str, ...], message: str) -> None:
    result = env.invoke(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert result.stdout == ""


def test_subscriber_text_never_becomes_a_path(env: Env) -> None:
    seed_fixtures(env)
    with session_scope() as session:
        # written straight to the database, past the importer's checks
        session.execute(
            update(Subscriber)
            .where(Subscriber.account == "A-0001")
            .values(account="../../escape", name="../../../etc/passwd")
        )
    summary = run_json(env, "--period", "2026-10")
    output = Path(env.vars["INVOICING_OUTPUT_DIR"]).resolve()
    written = [p for p in Path(env.path).rglob("*.pdf")]
    assert written and all(output in p.resolve().parents for p in written), written
    assert_run_consistent(summary, 19)


def test_sql_goes_through_bound_parameters(env: Env) -> None:
    seed_fixtures(env)
    nasty = "Robert'); DROP TABLE subscribers;--"
    with session_scope() as session:
        session.execute(update(Subscriber).where(Subscriber.account == "A-0002").values(name=nasty))
    summary = run_json(env, "--period", "2026-10")
    with session_scope() as session:
        assert session.scalar(select(Subscriber.name).where(Subscriber.account == "A-0002")) == nasty
    assert_run_consistent(summary, 19)
    # and no SQL text is built from strings anywhere in the package
    for path in (ROOT / "invoicing").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"""execute\(\s*(text\(\s*)?f["']""", source), path
        uses_sql_text = re.search(r"from sqlalchemy import .*\btext\b", source)
        assert not (uses_sql_text and re.search(r"""\btext\(\s*f["']""", source)), path


def test_huge_import_with_one_bad_row_imports_nothing(env: Env, tmp_path: Path) -> None:
    initialized(env)
    data = copy.deepcopy(VALID_IMPORT)
    line = data["charges"][0]
    data["charges"] = [dict(line, description=f"Call {n}") for n in range(30_000)]
    data["charges"][25_000]["quantity"] = "9" * 20
    big = tmp_path / "big.json"
    big.write_text(json.dumps(data), encoding="utf-8")
    proc = env.cli("db", "seed", "--fixtures", str(big))
    assert proc.returncode == 2
    assert (
        "charges[25000] (account 'A-0001'): quantity: more than 12 digits before the decimal point"
        in proc.stderr
    )
    assert count_rows(Charge) == 0


def test_passwords_are_never_printed(pg_env: Env, workers: Workers) -> None:
    env = workers.env
    # PostgreSQL here trusts loopback, so any password works, and must never show
    url = env.vars["INVOICING_DATABASE_URL"].replace("postgres@", "postgres:TopSecret99@")
    env.vars["INVOICING_DATABASE_URL"] = url
    seed_fixtures(env)
    workers.start(count=1, concurrency=1)
    outputs = [
        env.cli("run", "--period", "2026-10"),
        env.cli("status"),
        env.cli("status", "--json"),
        env.cli("runs"),
        env.cli("status", INVOICING_DATABASE_URL=url.replace("127.0.0.1:5432", "127.0.0.1:1")),
        env.cli("db", "init"),
    ]
    assert outputs[0].returncode == 0, outputs[0].stderr
    assert "***" in outputs[4].stderr and "db init" not in outputs[4].stderr
    text = "".join(p.stdout + p.stderr for p in outputs) + workers.log_text()
    assert "TopSecret99" not in text


def test_workers_refuse_pickle_messages(workers: Workers) -> None:
    from invoicing.celery import app

    workers.env.invoke("db", "init")  # a worker refuses a database without the schema
    workers.start(count=1, concurrency=1)
    # a producer that speaks pickle, as an attacker on the broker would
    app.send_task("invoicing.power", args=[3, 2], serializer="pickle")
    ok = app.send_task("invoicing.power", args=[4, 2])
    assert ok.get(timeout=30) == 16
    log = workers.log_text()
    assert "Refusing to deserialize untrusted content of type pickle" in log, log[-2000:]
    assert "power(3, 2)" not in log


def test_handle_errors_prints_a_storage_error_as_one_line_exit_1() -> None:
    # The commands' error edge alone, on a StorageError raised by a command of the test's
    # own; a real S3 server stopped under a real command is in tests/test_storage.py
    # (test_a_store_lost_after_the_preflight_is_one_line_naming_the_object).
    from click.testing import CliRunner

    from invoicing.cli.common import handle_errors
    from invoicing.storage import StorageError

    @click.command()
    @handle_errors
    def lost() -> None:
        raise StorageError("s3://invoices/runs/2026-10: cannot reach http://127.0.0.1:9", transient=True)

    result = CliRunner().invoke(lost, [])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "invoicing: error: storage: s3://invoices/runs/2026-10: cannot reach http://127.0.0.1:9"
    ]
