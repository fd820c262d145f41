"""E-mail delivery against real SMTP servers on loopback (aiosmtpd): what arrives, how it
reads to a person, and what the database and `status` say about each invoice.

The fixtures' October run has 19 invoices; the tests give some subscribers the e-mail
channel and deliver with the `invoicing deliver` command, embedded (in process).
"""

from __future__ import annotations

import hashlib
import io
import json

from babel import Locale
from pypdf import PdfReader
from sqlalchemy import select, update

from invoicing.db import session_scope
from invoicing.models import Delivery, Invoice
from invoicing.pdf.format import Formatter
from tests.support.delivery import (
    EMAIL,
    PERIOD,
    SENDER,
    billed,
    deliver_json,
    fixtures_with_channels,
    status_delivery,
    use_smtp,
)
from tests.support.envs import Env
from tests.support.factories import initialized, write_json
from tests.support.smtp import Behaviour, SmtpServer, unreachable_url


def _invoice(account: str) -> Invoice:
    with session_scope() as session:
        row = session.scalars(
            select(Invoice).join(Invoice.subscriber).where(Invoice.subscriber.has(account=account))
        ).one()
        session.expunge(row)
        return row


def test_every_email_invoice_arrives_once(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, EMAIL)
    use_smtp(env, smtp.url())
    # when
    deliver_json(env, run["run_id"])
    # then
    assert sorted(smtp.per_message_id().values()) == [1, 1, 1, 1]


def test_print_only_subscribers_get_no_mail(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, EMAIL)
    use_smtp(env, smtp.url())
    # when
    deliver_json(env, run["run_id"])
    # then
    recipients = sorted(r for received in smtp.received for r in received.rcpt_tos)
    assert recipients == sorted(
        [
            "juergen.mueller@example.org",
            "a.smirnov@example.org",
            "hanako.sato@example.org",
            "minjun.kim@example.org",
        ]
    )


def test_the_message_id_is_made_of_the_invoice_number_and_the_sender_domain(
    env: Env, smtp: SmtpServer
) -> None:
    # given
    run = billed(env, {"A-0001": "email"})
    use_smtp(env, smtp.url())
    # when
    deliver_json(env, run["run_id"])
    # then
    number = _invoice("A-0001").number
    assert list(smtp.per_message_id()) == [f"<{number}@northwind.example>"]


def test_a_person_reads_a_german_invoice_mail(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, {"A-0001": "email"})
    use_smtp(env, smtp.url())
    # when
    deliver_json(env, run["run_id"])
    # then
    invoice = _invoice("A-0001")
    message = smtp.messages()[0]
    body = message.get_body(("plain",)).get_content()
    assert (str(message["Subject"]), body.splitlines()[0], body.splitlines()[-1]) == (
        f"Rechnung {invoice.number} für 01.10.2026 – 31.10.2026",
        "Guten Tag Jürgen Müller,",
        "Northwind Billing",
    )


def test_the_body_states_the_total_as_the_invoice_prints_it(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, {"A-0013": "email"})
    use_smtp(env, smtp.url())
    # when
    deliver_json(env, run["run_id"])
    # then
    invoice = _invoice("A-0013")
    body = smtp.messages()[0].get_body(("plain",)).get_content()
    page = PdfReader(invoice.pdf_path or "").pages[0].extract_text()
    printed = Formatter(Locale.parse("ja_JP"), invoice.currency).money(invoice.total)
    assert (printed in body, printed in page) == (True, True)


def test_the_attachment_is_the_stored_invoice(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, {"A-0009": "email"})
    use_smtp(env, smtp.url())
    # when
    deliver_json(env, run["run_id"])
    # then
    invoice = _invoice("A-0009")
    attachment = next(smtp.messages()[0].iter_attachments())
    pdf = attachment.get_content()
    assert (
        attachment.get_filename(),
        hashlib.sha256(pdf).hexdigest(),
        len(PdfReader(io.BytesIO(pdf)).pages),
    ) == (
        f"{invoice.number}.pdf",
        invoice.sha256,
        invoice.pages,
    )


def test_headers_that_are_not_ascii_are_encoded(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, {"A-0009": "email"})
    use_smtp(env, smtp.url())
    # when
    deliver_json(env, run["run_id"])
    # then
    raw = smtp.received[0].data
    headers = raw.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii() and b"=?utf-8?" in headers


def test_from_to_and_reply_to(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, {"A-0008": "email"})
    use_smtp(env, smtp.url())
    # when
    deliver_json(env, run["run_id"])
    # then
    message = smtp.messages()[0]
    assert (
        str(message["From"]),
        str(message["To"]),
        str(message["Reply-To"]),
        smtp.received[0].mail_from,
    ) == (
        f"Northwind Billing <{SENDER}>",
        "Emily Carter <emily.carter@example.org>",
        "support@northwind.example",
        SENDER,
    )


def test_each_sent_invoice_records_the_servers_reply(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, {"A-0001": "email"})
    use_smtp(env, smtp.url())
    # when
    deliver_json(env, run["run_id"])
    # then
    with session_scope() as session:
        row = session.scalars(select(Delivery)).one()
        assert (row.state.value, row.reply, row.sent_at is not None) == (
            "sent",
            "250 2.0.0 Ok: queued as Q1",
            True,
        )


def test_delivering_again_sends_nothing_more(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, EMAIL)
    use_smtp(env, smtp.url())
    deliver_json(env, run["run_id"])
    # when
    again = deliver_json(env, run["run_id"])
    # then
    assert (again["dispatched"], len(smtp.received)) == (0, 4)


def test_status_counts_the_deliveries(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, EMAIL)
    use_smtp(env, smtp.url())
    # when
    deliver_json(env, run["run_id"])
    # then
    assert status_delivery(env, run["run_id"])["counts"] == {
        "pending": 0,
        "sending": 0,
        "sent": 4,
        "deferred": 0,
        "failed": 0,
        "bounced": 0,
    }


def test_before_delivery_status_counts_the_email_invoices_pending(env: Env) -> None:
    # given
    run = billed(env, EMAIL)
    # when
    delivery = status_delivery(env, run["run_id"])
    # then
    assert delivery["counts"]["pending"] == 4


def test_runs_json_has_the_delivery_counts(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, EMAIL)
    use_smtp(env, smtp.url())
    deliver_json(env, run["run_id"])
    # when
    proc = env.cli("runs", "--json", check=True)
    # then
    assert json.loads(proc.stdout)[0]["delivery"]["sent"] == 4


def test_a_recipient_refused_with_550_fails_with_the_reply(env: Env) -> None:
    # given
    server = SmtpServer(Behaviour(refuse={"hanako.sato@example.org"})).start()
    run = billed(env, EMAIL)
    use_smtp(env, server.url())
    # when
    deliver_json(env, run["run_id"], 3)
    # then
    server.stop()
    undelivered = status_delivery(env, run["run_id"])["undelivered"]
    assert [(u["account"], u["state"], u["reason"][:3]) for u in undelivered] == [("A-0013", "failed", "550")]


def _sent_and_copies(env: Env, behaviour: Behaviour) -> tuple[int, list[int]]:
    """Deliver the EMAIL run through a server that behaves so: how many the run counts
    sent, and how many copies of each message arrived."""
    server = SmtpServer(behaviour).start()
    run = billed(env, EMAIL)
    use_smtp(env, server.url())
    result = deliver_json(env, run["run_id"])
    server.stop()
    return result["delivery"]["counts"]["sent"], sorted(server.per_message_id().values())


def test_a_server_answering_451_first_gets_the_message_later(env: Env) -> None:
    # when the run is delivered through a server with the first two DATA answered 451
    sent, copies = _sent_and_copies(env, Behaviour(tempfail_data=2))
    # then every message arrives once
    assert (sent, copies) == (4, [1, 1, 1, 1])


def test_a_connection_dropped_during_data_is_sent_again(env: Env) -> None:
    # when the run is delivered through a server with the connection dropped in the first DATA
    sent, copies = _sent_and_copies(env, Behaviour(drop_data=1))
    # then every message arrives once
    assert (sent, copies) == (4, [1, 1, 1, 1])


def test_a_message_deferred_too_often_fails(env: Env) -> None:
    # given
    server = SmtpServer(Behaviour(tempfail_data=1000)).start()
    run = billed(env, {"A-0001": "email"})
    use_smtp(env, server.url(), retry_s="0.05")
    # when
    result = deliver_json(env, run["run_id"], 3)
    # then
    server.stop()
    assert result["delivery"]["undelivered"][0]["reason"].startswith("gave up after")


def test_an_unreachable_server_is_one_line_and_marks_nothing(env: Env) -> None:
    # given
    run = billed(env, EMAIL)
    use_smtp(env, unreachable_url())
    # when
    proc = env.cli("deliver", str(run["run_id"]))
    # then
    assert (proc.returncode, len(proc.stderr.strip().splitlines()), _delivery_rows()) == (1, 1, 0)


def test_a_wrong_password_is_one_line_exit_2_and_marks_nothing(env: Env) -> None:
    # given
    server = SmtpServer(Behaviour(password="right-horse-battery")).start()
    run = billed(env, EMAIL)
    use_smtp(env, server.url(password="wrong-pass-word"))
    # when
    proc = env.cli("deliver", str(run["run_id"]))
    # then
    server.stop()
    assert (
        proc.returncode,
        len(proc.stderr.strip().splitlines()),
        _delivery_rows(),
        len(server.received),
    ) == (
        2,
        1,
        0,
        0,
    )


def test_the_password_is_never_printed(env: Env) -> None:
    # given
    server = SmtpServer(Behaviour(password="right-horse-battery")).start()
    run = billed(env, EMAIL)
    use_smtp(env, server.url(password="wrong-pass-word"))
    # when
    proc = env.cli("deliver", str(run["run_id"]))
    # then
    server.stop()
    assert "wrong-pass-word" not in proc.stdout + proc.stderr


def test_the_right_password_sends(env: Env) -> None:
    # given
    server = SmtpServer(Behaviour(password="right-horse-battery")).start()
    run = billed(env, EMAIL)
    use_smtp(env, server.url(password="right-horse-battery"))
    # when
    deliver_json(env, run["run_id"])
    # then
    server.stop()
    assert len(server.received) == 4


def test_a_name_cannot_inject_a_header(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, {"A-0001": "email"})
    with session_scope() as session:
        session.execute(update(Invoice).values(bill_name="Eve\r\nBcc: thief@evil.example\r\nX-Evil: 1"))
    use_smtp(env, smtp.url())
    # when
    deliver_json(env, run["run_id"])
    # then
    message = smtp.messages()[0]
    assert (message["Bcc"], message["X-Evil"], smtp.received[0].rcpt_tos) == (
        None,
        None,
        ["juergen.mueller@example.org"],
    )


def test_a_name_stored_before_the_cleaning_rule_is_mailed_cleaned_as_the_invoice_prints_it(
    env: Env, smtp: SmtpServer
) -> None:
    # given an invoice whose name was stored before the cleaning rule: a right-to-left
    # mark that would reorder its digits, a zero width space, an override, a tag character
    run = billed(env, {"A-0001": "email"})
    dirty = "\u200fJana\u200b Brandt\u202e 1234 5678 9012\U000e0041 3456"
    with session_scope() as session:
        session.execute(update(Invoice).values(bill_name=dirty))
    use_smtp(env, smtp.url())
    # when it is e-mailed by the real command
    deliver_json(env, run["run_id"])
    # then the greeting and the To header show the name as every output does
    message = smtp.messages()[0]
    body = message.get_body(("plain",)).get_content()
    name = "Jana Brandt 1234 5678 9012 3456"
    assert (body.splitlines()[0], str(message["To"])) == (
        f"Guten Tag {name},",
        f"{name} <juergen.mueller@example.org>",
    )
    assert not any(ch in body + str(message["To"]) for ch in "\u200f\u200b\u202e\U000e0041")


def test_an_email_address_cannot_inject_a_header(env: Env, smtp: SmtpServer) -> None:
    # given
    run = billed(env, {"A-0001": "email"})
    with session_scope() as session:
        session.execute(update(Invoice).values(bill_email="j@example.org\r\nBcc: thief@evil.example"))
    use_smtp(env, smtp.url())
    # when
    result = deliver_json(env, run["run_id"], 3)
    # then
    assert (len(smtp.received), result["delivery"]["counts"]["failed"]) == (0, 1)


def test_deliver_before_the_smtp_url_is_set_is_one_line_exit_2(env: Env) -> None:
    # given
    run = billed(env, EMAIL)
    # when
    proc = env.cli("deliver", str(run["run_id"]))
    # then
    assert (proc.returncode, proc.stderr.strip().splitlines()[-1]) == (
        2,
        "invoicing: error: INVOICING_SMTP_URL is not set: where should the invoices be sent from?",
    )


def _delivery_rows() -> int:
    with session_scope() as session:
        return len(session.scalars(select(Delivery.id)).all())


def test_deliver_after_run_emails_the_invoices_when_the_run_is_merged(env: Env, smtp: SmtpServer) -> None:
    # given
    initialized(env)
    env.cli("import", write_json(env, fixtures_with_channels(EMAIL)), check=True)
    use_smtp(env, smtp.url())
    # when
    env.cli("run", "--period", PERIOD, check=True, INVOICING_DELIVER_AFTER_RUN="true")
    # then
    assert sorted(smtp.per_message_id().values()) == [1, 1, 1, 1]
