"""Bounces: delivery status notifications read back to their invoices (`invoicing
bounces`), and the print shop's file of the e-mail-only invoices that did not arrive
(`invoicing merge --undelivered`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from invoicing.db import session_scope
from invoicing.models import Delivery, Invoice, Subscriber
from tests.support.delivery import (
    EMAIL,
    billed,
    bounces_json,
    deliver_json,
    dsn,
    status_delivery,
    unrelated_mail,
    use_smtp,
)
from tests.support.envs import Env
from tests.support.smtp import Behaviour, SmtpServer


@pytest.fixture
def delivered(env: Env) -> Iterator[int]:
    """The fixtures' October run, its four e-mail invoices delivered; the run's id."""
    server = SmtpServer().start()
    run = billed(env, EMAIL)
    use_smtp(env, server.url())
    deliver_json(env, run["run_id"])
    server.stop()
    yield run["run_id"]


def _sent_as(account: str) -> tuple[str, str, str]:
    """The account's invoice: its Message-ID, recipient and number."""
    with session_scope() as session:
        row = session.execute(
            select(Delivery.message_id, Delivery.recipient, Invoice.number)
            .join(Invoice, Invoice.id == Delivery.invoice_id)
            .join(Subscriber, Subscriber.id == Invoice.subscriber_id)
            .where(Subscriber.account == account)
        ).one()
        return row.message_id, row.recipient, row.number


def _write(env: Env, name: str, data: bytes) -> str:
    path = env.path / name
    path.write_bytes(data)
    return str(path)


def test_a_bounce_with_the_original_message_marks_its_invoice_bounced(env: Env, delivered: int) -> None:
    # given
    message_id, recipient, _ = _sent_as("A-0013")
    path = _write(env, "bounce.eml", dsn(message_id, recipient))
    # when
    bounces_json(env, path)
    # then
    undelivered = status_delivery(env, delivered)["undelivered"]
    assert [(u["account"], u["state"], u["reason"]) for u in undelivered] == [
        (
            "A-0013",
            "bounced",
            f"5.1.1 smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown",
        )
    ]


def test_a_bounce_with_the_original_headers_only_is_matched(env: Env, delivered: int) -> None:
    # given
    message_id, recipient, number = _sent_as("A-0016")
    path = _write(env, "bounce.eml", dsn(message_id, recipient, original="headers"))
    # when
    report = bounces_json(env, path)
    # then
    assert [item["number"] for item in report["matched"]] == [number]


def test_a_bounce_without_the_original_is_matched_by_its_envelope_id(env: Env, delivered: int) -> None:
    # given
    _, recipient, number = _sent_as("A-0001")
    path = _write(env, "bounce.eml", dsn(None, recipient, original=None, envelope_id=number))
    # when
    report = bounces_json(env, path)
    # then
    assert [item["number"] for item in report["matched"]] == [number]


def test_an_unrelated_mail_is_ignored(env: Env, delivered: int) -> None:
    # given
    path = _write(env, "question.eml", unrelated_mail())
    # when
    report = bounces_json(env, path)
    # then
    assert (len(report["ignored"]), status_delivery(env, delivered)["counts"]["bounced"]) == (1, 0)


def test_a_delay_notice_is_ignored(env: Env, delivered: int) -> None:
    # given
    message_id, recipient, _ = _sent_as("A-0013")
    path = _write(env, "delayed.eml", dsn(message_id, recipient, status="4.4.1", action="delayed"))
    # when
    report = bounces_json(env, path)
    # then
    assert report["ignored"][0]["reason"] == "not a failure (action delayed)"


def test_a_truncated_bounce_is_refused_with_one_line(env: Env, delivered: int) -> None:
    # given
    message_id, recipient, _ = _sent_as("A-0013")
    whole = dsn(message_id, recipient)
    path = _write(env, "cut.eml", whole[: whole.index(b"Action:")])
    # when
    report = bounces_json(env, path, expect=1)
    # then
    assert (len(report["refused"]), status_delivery(env, delivered)["counts"]["bounced"]) == (1, 0)


def test_a_bounce_about_a_message_not_ours_changes_nothing(env: Env, delivered: int) -> None:
    # given
    path = _write(env, "other.eml", dsn("<something-else@example.com>", "x@example.com"))
    # when
    report = bounces_json(env, path, expect=1)
    # then
    assert (len(report["unmatched"]), status_delivery(env, delivered)["counts"]["bounced"]) == (1, 0)


def test_a_maildir_is_read(env: Env, delivered: int) -> None:
    # given
    maildir = env.path / "Maildir"
    for folder in ("cur", "new", "tmp"):
        (maildir / folder).mkdir(parents=True)
    for account in ("A-0001", "A-0013"):
        message_id, recipient, _ = _sent_as(account)
        (maildir / "new" / f"{account}.eml").write_bytes(dsn(message_id, recipient))
    # when
    report = bounces_json(env, str(maildir))
    # then
    assert len(report["matched"]) == 2


def test_a_missing_path_is_one_line_exit_2(env: Env, delivered: int) -> None:
    # given
    missing = str(env.path / "nowhere")
    # when
    proc = env.cli("bounces", missing)
    # then
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        f"invoicing: error: {missing}: no such file or folder; nothing was read",
    )


def test_merge_undelivered_holds_the_bounced_and_failed_email_only_invoices(env: Env) -> None:
    # given
    server = SmtpServer(Behaviour(refuse={"minjun.kim@example.org"})).start()
    run = billed(env, EMAIL)
    use_smtp(env, server.url())
    deliver_json(env, run["run_id"], 3)
    server.stop()
    for account in ("A-0013", "A-0009"):
        message_id, recipient, _ = _sent_as(account)
        bounces_json(env, _write(env, f"{account}.eml", dsn(message_id, recipient)))
    # when
    env.cli("merge", "--undelivered", str(run["run_id"]), "-o", "undelivered.pdf", check=True)
    # then
    titles = [item.title.split(" — ")[0] for item in PdfReader(env.path / "undelivered.pdf").outline]  # type: ignore[union-attr]
    assert titles == [_sent_as("A-0013")[2], _sent_as("A-0016")[2]]


def test_merge_undelivered_pages_are_the_stored_invoices(env: Env) -> None:
    # given
    run = billed(env, EMAIL)
    server = SmtpServer(Behaviour(refuse={"minjun.kim@example.org"})).start()
    use_smtp(env, server.url())
    deliver_json(env, run["run_id"], 3)
    server.stop()
    # when
    env.cli("merge", "--undelivered", str(run["run_id"]), "-o", "undelivered.pdf", check=True)
    # then
    with session_scope() as session:
        stored = session.scalars(
            select(Invoice.pdf_path).where(Invoice.number == _sent_as("A-0016")[2])
        ).one()
    merged_text = PdfReader(env.path / "undelivered.pdf").pages[0].extract_text()
    assert merged_text == PdfReader(stored or "").pages[0].extract_text()


def test_merge_undelivered_with_nothing_undelivered_is_exit_2_and_writes_nothing(
    env: Env, delivered: int
) -> None:
    # given
    output = env.path / "undelivered.pdf"
    # when
    proc = env.cli("merge", "--undelivered", str(delivered), "-o", str(output))
    # then
    assert (proc.returncode, output.exists()) == (2, False)


def test_a_bounce_never_changes_the_invoice_file(env: Env, delivered: int) -> None:
    # given
    message_id, recipient, number = _sent_as("A-0013")
    with session_scope() as session:
        path, sha = session.execute(
            select(Invoice.pdf_path, Invoice.sha256).where(Invoice.number == number)
        ).one()
    # when
    bounces_json(env, _write(env, "bounce.eml", dsn(message_id, recipient)))
    # then
    assert hashlib.sha256(open(path or "", "rb").read()).hexdigest() == sha
