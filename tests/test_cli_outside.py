"""What a new user meets from the outside: file permissions, read-only commands that
leave nothing behind, tables readable at 80 columns, help on every option."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from invoicing import files
from invoicing.cli import main
from tests.support.factories import FIXTURES, initialized


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_pdf_written_gets_the_umask_permissions(env) -> None:
    # given a user whose umask is the usual 022
    with umask(0o022):
        initialized(env)
        env.cli("db", "seed", "--fixtures", str(FIXTURES), check=True)
        # when the run, a preview and a one-off merge write their PDFs
        env.cli("run", "--period", "2026-10", check=True)
        env.cli("render", "--account", "A-0001", "--period", "2026-10", "-o", "preview.pdf", check=True)
        env.cli("merge", "--accounts", "A-0002,A-0001", "--period", "2026-10", "-o", "pick.pdf", check=True)
    # then every one of them is 0644, readable by a print shop's or web server's user
    written = sorted((env.path / "output").rglob("*.pdf"))
    assert [p.name for p in written].count("billing-run-1.pdf") == 1 and len(written) == 20  # 19 + merged
    for path in [*written, env.path / "preview.pdf", env.path / "pick.pdf"]:
        assert mode(path) == 0o644, f"{path}: {oct(mode(path))}"


def test_durable_writes_follow_a_stricter_umask(tmp_path: Path) -> None:
    # given a umask that keeps others out
    with umask(0o027):
        # when one file and a staged batch are written
        with files.atomic_file(tmp_path / "one.pdf") as handle:
            handle.write(b"%PDF-1.4 one")
        staged = files.StagedFiles()
        staged.write("a", tmp_path / "a.pdf", b"%PDF-1.4 a")
        staged.write("b", tmp_path / "b.pdf", b"%PDF-1.4 b")
        assert staged.commit() == {}
    # then they carry exactly the umask's permissions, and no temp file is left
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {"one.pdf": 0o640, "a.pdf": 0o640, "b.pdf": 0o640}


@pytest.mark.parametrize("command", [["status"], ["runs"], ["status", "--json"], ["runs", "--json"]])
def test_read_only_commands_leave_no_database_behind(env, command: list[str]) -> None:
    # given an empty folder: no database yet
    # when a user asks for the status there
    proc = env.cli(*command)
    # then one line says what to do, and no empty invoicing.db is created
    assert proc.returncode == 1, proc.stderr
    assert "no database at" in proc.stderr and "invoicing db init" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (env.path / "invoicing.db").exists()
    assert list(env.path.iterdir()) == []


def test_runs_table_is_readable_at_80_columns(env) -> None:
    # given two finished runs
    initialized(env)
    env.cli("db", "seed", "--fixtures", str(FIXTURES), check=True)
    env.cli("run", "--period", "2026-10", check=True)
    env.cli("run", "--period", "2026-09", check=True)
    # when the runs are listed on an 80-column terminal
    proc = env.cli("runs", COLUMNS="80")
    # then nothing is cut off: full dates, the whole relative path of each merged file
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), proc.stdout
    assert "…" not in proc.stdout
    text = "".join(line.strip() for line in lines)
    for run_id, period in ((1, "2026-10"), (2, "2026-09")):
        assert f"{period}/billing-run-{run_id}.pdf" in text.replace(" ", ""), proc.stdout
    created = [line.split()[4] for line in lines if line.strip()[:1].isdigit()]
    assert len(created) == 2 and all(len(day) == 10 and day.count("-") == 2 for day in created)
    # (the caption folds a long path at any character: compare without the folds)
    assert f"filesunder{(env.path / 'output').resolve()}" in "".join(proc.stdout.split())


def all_options() -> Iterator[tuple[str, click.Option]]:
    def walk(command: click.Command, name: str) -> Iterator[tuple[str, click.Option]]:
        for param in command.params:
            if isinstance(param, click.Option):
                yield name, param
        if isinstance(command, click.Group):
            for sub_name, sub in command.commands.items():
                yield from walk(sub, f"{name} {sub_name}".strip())

    yield from walk(main, "")


@pytest.mark.parametrize(("command", "option"), list(all_options()), ids=lambda v: getattr(v, "name", v))
def test_every_option_has_help(command: str, option: click.Option) -> None:
    assert option.help or option.hidden, f"invoicing {command} {option.opts[0]} has no help text"


def test_seed_help_says_generate_needs_a_period() -> None:
    result = CliRunner().invoke(main, ["db", "seed", "--help"], terminal_width=100)
    assert result.exit_code == 0
    assert "(needs --period)" in " ".join(result.output.split())


def test_a_bad_schedule_is_a_setting_error(env) -> None:
    # given a cron line with four fields, then one with an impossible hour
    for schedule in ("0 2 * *", "0 25 * * *"):
        # when any command starts
        proc = env.cli("runs", INVOICING_RUN_SCHEDULE=schedule)
        # then the setting is named in one line, exit 2, no traceback
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("invoicing: error: INVOICING_RUN_SCHEDULE:"), proc.stderr
        assert "Traceback" not in proc.stderr
