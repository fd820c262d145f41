"""Every message says what to do: counts in their right plural, hints that name the run,
Ctrl-C that says what is true, an output folder that cannot be written refused before
anything is issued, failure reasons whole with their paths, the late charges behind the
counts listed, and an import's every problem of every row told in one pass."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from invoicing.models import BillingRun, Charge, Invoice, Subscriber
from tests.support.envs import Env
from tests.support.factories import VALID_IMPORT, initialized, seed_fixtures, write_json
from tests.support.runs import count_rows, late_charges, run_json


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("invoicing: error: "), stderr
    return lines[0].removeprefix("invoicing: error: ")


# --- plurals and hints ----------------------------------------------------------------------


def test_one_invoice_is_issued_in_the_singular(env: Env) -> None:
    # given one subscriber
    initialized(env)
    env.cli("import", write_json(env, VALID_IMPORT), check=True)
    # when
    proc = env.cli("run", "--period", "2026-10")
    # then
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"billing run \d+ for 2026-10: issued 1 invoice$", proc.stderr, re.M), proc.stderr


def test_a_late_charge_and_a_void_run_of_one_speak_in_the_singular(env: Env) -> None:
    # given one subscriber billed for October
    initialized(env)
    env.cli("import", write_json(env, VALID_IMPORT), check=True)
    run = run_json(env, "--period", "2026-10")
    late = copy.deepcopy(VALID_IMPORT)
    late["charges"] = [{**late["charges"][0], "description": "Roaming data, reported late"}]
    # when one late charge is imported, then the run is voided
    imported = env.cli("import", write_json(env, late, "late.json"))
    voided = env.cli("void", str(run["run_id"]))
    # then each count agrees with its noun and verb
    assert imported.returncode == 0, imported.stderr
    assert "A-0001: 1 charge for a billed period goes on the next invoice (2026-11)" in imported.stderr
    assert voided.returncode == 0, voided.stderr
    assert ": 1 invoice kept as void;" in voided.stdout, voided.stdout
    assert "(s)" not in imported.stderr + voided.stdout


def test_failed_invoices_are_shown_whole_with_the_retry_of_their_run(env: Env) -> None:
    # given the fixtures, and a folder where the first invoice's file must go
    seed_fixtures(env)
    blocker = env.path / "output" / "2026-10" / "INV-2026-10-000001.pdf"
    blocker.mkdir(parents=True)
    # when the run completes with that invoice failed
    summary = run_json(env, "--period", "2026-10", expect=3)
    human = env.cli("status", str(summary["run_id"]), COLUMNS="80")
    reason = json.loads(env.cli("status", "--json").stdout)["failures"][0]["error"]
    # then the reason names the path and the system's reason
    assert reason.startswith("cannot write the PDF ") and str(blocker.parent) in reason, reason
    assert reason.endswith(": Is a directory"), reason
    # and the report shows it whole (folded at 80 columns, never cut), then the run's retry
    folded = re.sub(r"[\s│┃|]", "", human.stdout)
    assert re.sub(r"\s", "", reason) in folded, human.stdout
    assert f"then `invoicing retry {summary['run_id']}`" in human.stdout


# --- before issuing ------------------------------------------------------------------------


def test_an_output_folder_that_cannot_be_made_is_refused_before_issuing(env: Env) -> None:
    # given the fixtures, and INVOICING_OUTPUT_DIR under a regular file
    seed_fixtures(env)
    (env.path / "not-a-folder").write_text("x")
    output = env.path / "not-a-folder" / "invoices"
    # when
    proc = env.cli("run", "--period", "2026-10", INVOICING_OUTPUT_DIR=str(output))
    # then one line naming the full path and the reason, exit 2, nothing issued
    assert proc.returncode == 2
    assert one_line_error(proc.stderr) == (
        f"INVOICING_OUTPUT_DIR: cannot write in {output / '2026-10'}: Not a directory; "
        "nothing was issued: give a folder this user can write"
    )
    assert count_rows(BillingRun) == 0 and count_rows(Invoice) == 0


def test_ctrl_c_while_issuing_says_nothing_was_issued(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    # given the fixtures, and Ctrl-C arriving while the run's invoices are computed
    import invoicing.run.dispatch as dispatch

    seed_fixtures(env)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(dispatch, "create_run", interrupted)
    # when
    result = env.invoke("run", "--period", "2026-10")
    # then what it says is true: there is no run to look at
    assert result.exit_code == 130
    assert (
        result.stderr
        == "invoicing: error: interrupted before anything was issued for 2026-10; nothing was written\n"
    )
    assert count_rows(BillingRun) == 0


def test_ctrl_c_after_issuing_names_the_run_and_how_to_finish_it(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given Ctrl-C arriving once the run is committed, while its chord is sent
    import invoicing.run.dispatch as dispatch

    seed_fixtures(env)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(dispatch, "dispatch_run", interrupted)
    # when
    result = env.invoke("run", "--period", "2026-10")
    # then
    assert result.exit_code == 130
    assert count_rows(BillingRun) == 1
    assert result.stderr == (
        "invoicing: error: interrupted; billing run 1 for 2026-10 is issued; `invoicing status 1` shows it; "
        "its rendering stopped with this command: `invoicing retry 1` finishes it once it counts as stalled "
        "(600 s after its last progress, INVOICING_STALL_AFTER_S)\n"
    )
    # and the status it names is there
    status = env.cli("status", "1", "--json")
    assert json.loads(status.stdout)["invoices"] == 19, status.stderr


# --- the late charges behind the counts -------------------------------------------------


def test_charges_lists_the_waiting_and_unbillable_charges(env: Env) -> None:
    # given
    late_charges(env)
    # when
    both = json.loads(env.cli("charges", "--json", check=True).stdout)
    waiting = json.loads(env.cli("charges", "--waiting", "--json", check=True).stdout)
    status = env.cli("status")
    # then each charge is listed where the counts put it
    assert [(c["id"], c["account"], c["goes_on"]) for c in both["waiting"]] == [
        ("late-1", "A-0001", "2026-10")
    ]
    assert [(c["id"], c["account"], c["quantity"], c["unit_price"]) for c in both["unbillable"]] == [
        ("late-2", "A-0010", "2", "0.50")
    ]
    assert set(waiting) == {"waiting"} and waiting["waiting"] == both["waiting"]
    # and status counts the same, naming the command that lists them
    assert "1 charge waits for a later invoice; 1 unbillable" in status.stdout
    assert "`invoicing charges --waiting`" in status.stdout


def test_charges_as_a_table_shows_the_description_as_given(env: Env) -> None:
    # given
    late_charges(env)
    # when
    proc = env.cli("charges", "--waiting", check=True)
    # then (markup in a description is text)
    assert "[bold]late[/bold]" in proc.stdout and "goes on" in proc.stdout
    assert proc.stderr.strip() == "1 charge waiting"


# --- the import ----------------------------------------------------------------------------


def test_every_problem_of_every_row_in_one_pass_and_rows_counted_once(env: Env) -> None:
    # given one subscriber row with four bad fields and an unknown plan, and a bad charge row
    data = copy.deepcopy(VALID_IMPORT)
    data["subscribers"][0].update(
        {"email": "nope", "country": "XX", "locale": "zz", "tax_rate": "ten", "plan": "gold"}
    )
    data["charges"][0].update({"quantity": "x", "unit_price": "9,90"})
    initialized(env)
    # when
    proc = env.cli("import", write_json(env, data))
    # then every problem, each on its line, and two invalid rows
    assert proc.returncode == 2
    row = "subscribers[0] (account 'A-0001')"
    for expected in (
        f"{row}: email: not an email address: 'nope'",
        f"{row}: country: unknown country 'XX'",
        f"{row}: locale: unknown locale 'zz'",
        f"{row}: tax_rate: not a number: 'ten'",
        f"{row}: plan: unknown plan 'gold'",
        "charges[0] (account 'A-0001'): quantity: not a number: 'x'",
        "charges[0] (account 'A-0001'): unit_price: not a number: '9,90': a decimal comma; "
        "write '9.90' (a point)",
    ):
        assert expected in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "invoicing: error: 2 invalid rows; nothing was imported"
    assert count_rows(Subscriber) == 0 and count_rows(Charge) == 0


def test_a_semicolon_csv_is_named_with_what_to_write(env: Env) -> None:
    # given a charges file as a German spreadsheet saves it
    path = env.path / "charges.csv"
    path.write_text("account;period;description;quantity;unit_price\nA-0001;2026-10;Roaming;1;9,90\n")
    initialized(env)
    # when
    proc = env.cli("import", str(path))
    # then
    assert proc.returncode == 2
    assert [line.strip() for line in proc.stderr.strip().splitlines()] == [
        "charges.csv: columns separated by ';'; this import reads ',' (save it as CSV with comma "
        "separators, amounts with a decimal point: 9.90, not 9,90)",
        "invoicing: error: 1 problem; nothing was imported",
    ]


def test_an_unreadable_file_is_one_problem_not_an_invalid_row(env: Env) -> None:
    # when
    initialized(env)
    proc = env.cli("import", str(env.path / "missing.json"))
    # then
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == "invoicing: error: 1 problem; nothing was imported"


def test_the_output_folder_message_names_the_whole_path(tmp_path: Path) -> None:
    # given a folder name too long to be a file name (the reason is the system's)
    from invoicing.files import folder_problem

    folder = tmp_path / ("x" * 300) / "2026-10"
    # when
    problem = folder_problem(folder)
    # then the full path, never cut
    assert problem == f"cannot write in {folder}: File name too long"
