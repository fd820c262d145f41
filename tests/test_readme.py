"""The README cannot drift from the CLI: its tour's commands are run from its own code
blocks, through the real `invoicing` command, in a fresh embedded environment, and each
must exit as the README says; its set-up commands are the ones CI runs; it stays short.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.support.envs import Env
from tests.support.paths import ROOT

README = ROOT / "README.md"
TOUR_HEADING = "## A ten-minute tour"
SETUP = (
    "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/invoicing db init"
    " && .venv/bin/invoicing db seed --fixtures fixtures/invoicing.json"
    " && .venv/bin/invoicing run --period 2026-10"
)
# What the tour promises to show, one command each at least.
TOURED = {"import", "run", "status", "render", "retry", "credit", "export", "merge", "demo"}
# A line may state the exit code it expects: `invoicing run --period 2026-13   # exit 2`.
EXPECTED_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")
INVOICING = {"invoicing", ".venv/bin/invoicing"}


def readme() -> str:
    return README.read_text(encoding="utf-8")


def tour_lines() -> list[str]:
    """The command lines of the ```sh blocks of the tour section, in order."""
    text = readme()
    start = text.index(TOUR_HEADING)
    end = text.find("\n## ", start + len(TOUR_HEADING))
    section = text[start : end if end != -1 else len(text)]
    blocks = re.findall(r"^```sh\n(.*?)^```$", section, flags=re.M | re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def command_of(line: str) -> tuple[list[str], int]:
    """A tour line as argv (shell quoting and comments as a shell reads them) and the exit
    code it expects."""
    found = EXPECTED_EXIT.search(line)
    return shlex.split(line, comments=True), int(found.group(1)) if found else 0


def run_line(env: Env, line: str) -> str | None:
    """Run one tour line as a user would; return what went differently from the README."""
    argv, expected = command_of(line)
    if argv[0] in INVOICING:
        proc = env.cli(*argv[1:])
        if proc.returncode != expected:
            said = f"{line!r} exited {proc.returncode}, the README says {expected}"
            return f"{said}\n{proc.stdout}\n{proc.stderr}"
        return None
    if argv[0] == "rm":
        for name in argv[1:]:
            (env.path / name).unlink()
        return None
    return f"{line!r}: the tour may only hold invoicing and rm lines (the test runs them itself)"


@pytest.mark.slow  # the whole tour, command after command, each in a process of its own
# About a minute; the hang guard leaves room for a machine busy with other jobs.
@pytest.mark.timeout(900)
def test_every_tour_command_exits_as_the_readme_says(env: Env) -> None:
    # given a fresh embedded environment in which the repository's fixtures/ are at hand
    (env.path / "fixtures").symlink_to(ROOT / "fixtures", target_is_directory=True)
    lines = tour_lines()
    # when the tour's lines run one after the other, stopping at the first surprise
    surprise = next((problem for line in lines if (problem := run_line(env, line))), None)
    # then every command exited as written
    assert surprise is None, surprise


def test_the_tour_shows_every_command_it_promises() -> None:
    shown = {argv[1] for argv, _ in map(command_of, tour_lines()) if argv[0] in INVOICING}
    assert TOURED <= shown, sorted(TOURED - shown)


def test_the_readme_is_at_most_500_lines() -> None:
    assert len(readme().splitlines()) <= 500


def test_the_set_up_command_is_the_one_users_and_the_tour_expect() -> None:
    lines = readme().splitlines()
    assert SETUP in lines


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    command = next(line for line in reversed(ci) if line.strip() and not line.startswith("#"))
    assert command in readme().splitlines(), command


# An issue, phase or session named by its number, or a bare "#" and digits; never the verb
# "issues" before a count of documents.
HISTORY = re.compile(
    r"\bissue #?\d+\b(?! (?:invoices?|credit|subscribers?))"
    r"|(?<![\w&])(?<!UAX )#\d+\b"
    r"|\b(?:phase|session) \d+\b",
    flags=re.I,
)


def test_the_readme_names_no_issue_numbers() -> None:
    assert not HISTORY.search(readme()), HISTORY.search(readme())


def test_the_tour_runs_in_a_folder_of_its_own() -> None:
    # paths in the tour are relative to the user's folder: fixtures/ and output/ only
    paths = [Path(arg) for argv, _ in map(command_of, tour_lines()) for arg in argv if "/" in arg]
    assert all(not path.is_absolute() and ".." not in path.parts for path in paths), paths
