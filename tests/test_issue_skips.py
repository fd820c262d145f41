"""One subscriber never sinks the night at issue time: a subscriber whose invoice the run
cannot hold (data imported before the importer refused it) is skipped with the reason,
everybody else is billed and rendered, `status` lists him, and once his data is
corrected the period's next run, a supplement, bills him."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import insert, select, update

from invoicing.billing import Period, create_run, issue
from invoicing.config import get_settings
from invoicing.db import session_scope
from invoicing.models import BillingRun, Charge, Invoice, InvoiceStatus, RunSkip, Subscriber
from tests.support.checks import pdf_outline
from tests.support.envs import Env
from tests.support.factories import VALID_IMPORT, initialized
from tests.support.runs import count_rows, run_json, status_of

PERIOD = "2026-10"
LARGEST = "more than the largest amount, 9999999999.99"


def three_subscribers() -> dict[str, Any]:
    base = VALID_IMPORT["subscribers"][0]
    data = {
        "plans": VALID_IMPORT["plans"],
        "subscribers": [{**base, "account": f"A-000{n}", "name": f"Kunde {n}"} for n in (1, 2, 3)],
        "charges": [{**VALID_IMPORT["charges"][0], "account": f"A-000{n}"} for n in (1, 2, 3)],
    }
    return data


def seed(env: Env) -> None:
    initialized(env)
    path = env.path / "data.json"
    path.write_text(json.dumps(three_subscribers(), ensure_ascii=False), encoding="utf-8")
    env.cli("import", str(path), check=True)


def charge_around_the_importer(account: str, quantity: str, unit_price: str, key: str = "legacy") -> int:
    """A charge written straight into the database, as one imported before the importer
    refused such amounts (or with a higher INVOICING_MAX_LINES) was."""
    with session_scope() as session:
        subscriber_id = session.scalar(select(Subscriber.id).where(Subscriber.account == account))
        return session.execute(
            insert(Charge)
            .values(
                subscriber_id=subscriber_id,
                period=PERIOD,
                description="Satellite roaming",
                quantity=Decimal(quantity),
                unit_price=Decimal(unit_price),
                source_key=f"id:{key}-{account}",
            )
            .returning(Charge.id)
        ).scalar_one()


def numbers_of(run_id: int) -> dict[str, str]:
    with session_scope() as session:
        rows = session.execute(
            select(Subscriber.account, Invoice.number)
            .join(Invoice, Invoice.subscriber_id == Subscriber.id)
            .where(Invoice.run_id == run_id, Invoice.status == InvoiceStatus.RENDERED)
        )
        return dict(rows.all())


def test_an_overflowing_charge_on_postgres_skips_its_subscriber_and_bills_everybody_else(pg_env: Env) -> None:
    # given three subscribers, and for A-0002 a charge of 100,000 x 1,000,000,000 (each
    # within its column) whose line amount NUMERIC(18,4) cannot hold, imported before the
    # importer refused it
    seed(pg_env)
    charge_id = charge_around_the_importer("A-0002", "100000", "1000000000")

    # when the period is run through the real command
    summary = run_json(pg_env, "--period", PERIOD, expect=3)

    # then the others are billed, numbered without a gap, rendered and merged
    assert numbers_of(summary["run_id"]) == {"A-0001": "INV-2026-10-000001", "A-0003": "INV-2026-10-000002"}
    assert summary["status"] == "completed" and summary["invoices"] == 2
    assert len(pdf_outline(summary["output"])) == 2
    assert len(PdfReader(summary["output"]).pages) >= 2
    # and status names the one skipped, with the reason
    status = status_of(pg_env, summary["run_id"])
    assert status["skipped"] == [
        {
            "account": "A-0002",
            "reason": f"line 3 (Satellite roaming): amount: 100000000000000.00 is {LARGEST}",
            "billed": None,
        }
    ]
    text = pg_env.cli("status", str(summary["run_id"]))
    assert text.returncode == 3
    assert (
        f"skipped   A-0002: line 3 (Satellite roaming): amount: 100000000000000.00 is {LARGEST}; "
        f"not billed: correct the data, then `invoicing run --period {PERIOD}`"
    ) in text.stdout.splitlines(), text.stdout

    # when the charge is corrected and the period run again
    with session_scope() as session:
        session.execute(update(Charge).where(Charge.id == charge_id).values(unit_price=Decimal("0.01")))
    supplement = run_json(pg_env, "--period", PERIOD)

    # then a supplement bills A-0002, numbered on in the period's series
    assert numbers_of(supplement["run_id"]) == {"A-0002": "INV-2026-10-000003"}
    assert pdf_outline(supplement["output"]) and supplement["invoices"] == 1
    first = status_of(pg_env, summary["run_id"])
    assert first["skipped"][0]["billed"] == "INV-2026-10-000003"
    assert pg_env.cli("status", str(summary["run_id"])).returncode == 0


def test_the_dry_run_names_who_would_be_skipped_and_why(env: Env) -> None:
    # given an overflowing charge imported before the importer refused it
    seed(env)
    charge_around_the_importer("A-0003", "100000", "1000000000")
    # when the run is previewed
    proc = env.cli("run", "--period", PERIOD, "--dry-run", "--json")
    # then it names A-0003 and the reason, counts two invoices, and writes nothing
    assert proc.returncode == 0, proc.stderr
    preview = json.loads(proc.stdout)
    assert preview["invoices"] == 2
    assert preview["skipped"] == {"cannot be billed as their data stands (fix it; a later run bills them)": 1}
    assert preview["skipped_examples"][0] == {
        "account": "A-0003",
        "reason": f"line 3 (Satellite roaming): amount: 100000000000000.00 is {LARGEST}",
    }
    assert count_rows(BillingRun) == count_rows(Invoice) == 0


def test_the_reason_shows_a_description_stored_before_the_cleaning_rule_cleaned(env: Env) -> None:
    # given an overflowing charge imported before the importer refused it, whose
    # description (stored before the cleaning rule) reverses itself with an override
    seed(env)
    charge_id = charge_around_the_importer("A-0002", "100000", "1000000000")
    with session_scope() as session:
        session.execute(
            update(Charge)
            .where(Charge.id == charge_id)
            .values(description="\u202eSatellite\u200b roaming\x07")
        )
    # when the period is run
    summary = run_json(env, "--period", PERIOD, expect=3)
    # then the reason `status` shows names the line as the invoice would print it
    (skip,) = status_of(env, summary["run_id"])["skipped"]
    assert skip["reason"] == f"line 3 (Satellite roaming): amount: 100000000000000.00 is {LARGEST}"


def test_more_lines_than_the_setting_skips_the_subscriber_at_issue(env: Env) -> None:
    # given A-0001 with three charges, imported while the limit was higher
    seed(env)
    charge_around_the_importer("A-0001", "1", "1.00", key="calls")
    charge_around_the_importer("A-0001", "1", "0.09", key="sms")
    # when the run's limit is three lines (plan fee and two charges)
    summary = run_json(env, "--period", PERIOD, expect=3, INVOICING_MAX_LINES="3")
    # then A-0001 is skipped naming the count, the others are billed
    assert numbers_of(summary["run_id"]) == {"A-0002": "INV-2026-10-000001", "A-0003": "INV-2026-10-000002"}
    assert status_of(env, summary["run_id"])["skipped"] == [
        {
            "account": "A-0001",
            "reason": (
                "3 charges, more than an invoice holds (3 lines with the plan fee, INVOICING_MAX_LINES)"
            ),
            "billed": None,
        }
    ]


def test_running_again_before_the_data_is_corrected_issues_no_empty_supplement(env: Env) -> None:
    # given a run that skipped A-0002
    seed(env)
    charge_around_the_importer("A-0002", "100000", "1000000000")
    first = run_json(env, "--period", PERIOD, expect=3)
    # when the period is run again, nothing corrected
    again = run_json(env, "--period", PERIOD, expect=3)
    # then no supplement of nobody is made: the period still has its one run
    assert again["run_id"] == first["run_id"]
    assert count_rows(BillingRun) == 1 and count_rows(Invoice) == 2


def test_the_dry_run_after_the_run_says_who_is_left_and_why(env: Env) -> None:
    # given a run that skipped A-0002
    seed(env)
    charge_around_the_importer("A-0002", "100000", "1000000000")
    run_json(env, "--period", PERIOD, expect=3)
    # when the period is previewed again
    proc = env.cli("run", "--period", PERIOD, "--dry-run", "--json")
    # then it would issue nothing, and says A-0002 is still left
    preview = json.loads(proc.stdout)
    assert (preview["kind"], preview["note"]) == (
        "none",
        "billing run 1 is completed; 1 subscriber left cannot be billed as their data stands",
    )
    assert preview["skipped_examples"][0]["account"] == "A-0002"


def test_should_a_check_miss_the_database_refusing_an_invoice_skips_only_its_subscriber(
    pg_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the overflowing charge, and the run's own checks made to let it through
    seed(pg_env)
    charge_around_the_importer("A-0002", "100000", "1000000000")
    monkeypatch.setattr(issue, "invoice_problem", lambda *args: None)
    # when the run is issued on PostgreSQL
    with session_scope() as session:
        run_id = create_run(session, get_settings(), Period.parse(PERIOD)).id
    # then the database's refusal skips A-0002 alone, and the others number on without a gap
    with session_scope() as session:
        issued = dict(
            session.execute(
                select(Subscriber.account, Invoice.number)
                .join(Invoice, Invoice.subscriber_id == Subscriber.id)
                .where(Invoice.run_id == run_id)
            ).all()
        )
        skips = session.execute(select(RunSkip.account, RunSkip.reason).where(RunSkip.run_id == run_id)).all()
    assert issued == {"A-0001": "INV-2026-10-000001", "A-0003": "INV-2026-10-000002"}
    assert [(account, reason.split(":")[0]) for account, reason in skips] == [
        ("A-0002", "the database refused the invoice")
    ]
    assert "numeric field overflow" in skips[0][1]
