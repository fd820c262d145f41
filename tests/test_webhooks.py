"""Signed webhooks: events recorded with what they tell, POSTed after it to real receivers
on loopback that verify them with the `standardwebhooks` package (the README's receiver),
retried with backoff, never lost, never holding up a run."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select, update
from standardwebhooks import Webhook

from invoicing.config import ConfigError, Settings, read_settings
from invoicing.db import get_engine, init_db, session_scope
from invoicing.delivery import state as delivery_state
from invoicing.delivery import webhooks
from invoicing.delivery.signing import parse_secrets
from invoicing.models import Subscriber, WebhookMessage, WebhookStatus
from tests.support.delivery import billed, bounces_json, deliver_json, dsn, use_smtp
from tests.support.envs import Env
from tests.support.factories import seed_fixtures
from tests.support.runs import count_rows, run_json, status_of, summary_of, wait_until
from tests.support.smtp import SmtpServer
from tests.support.webhooks import Receiver, Receivers, new_secret, post_again
from tests.support.workers import Workers

# --- what is sent -----------------------------------------------------------------------------


def test_an_embedded_run_sends_run_completed_with_the_runs_summary(env: Env, receivers: Receivers) -> None:
    # given a receiver and the fixtures
    receiver = receivers.add(env)
    seed_fixtures(env)
    # when October is run
    summary = run_json(env, "--period", "2026-10")
    # then the receiver verified and handled run.completed, whose data is the run's summary
    data = receiver.wait_handled("run.completed")
    assert data == summary | {"kind": "billing", "error": None}


def test_a_failed_invoice_sends_invoice_failed_with_its_reason(env: Env, receivers: Receivers) -> None:
    # given a subscriber whose invoice fails (a locale nobody knows)
    receiver = receivers.add(env)
    seed_fixtures(env)
    with session_scope() as session:
        session.execute(update(Subscriber).where(Subscriber.account == "A-0003").values(locale="xx_XX"))
    # when October is run
    summary = run_json(env, "--period", "2026-10", expect=3)
    # then invoice.failed names the invoice, its subscriber and the reason
    data = receiver.wait_handled("invoice.failed")
    assert {k: data[k] for k in ("account", "period", "run_id", "kind")} == {
        "account": "A-0003",
        "period": "2026-10",
        "run_id": summary["run_id"],
        "kind": "invoice",
    }
    assert data["number"].startswith("INV-2026-10-") and "unknown locale 'xx_XX'" in data["error"]


def test_a_run_whose_every_invoice_failed_sends_run_failed(env: Env, receivers: Receivers) -> None:
    # given subscribers whose invoices all fail (a locale nobody knows)
    receiver = receivers.add(env)
    seed_fixtures(env)
    with session_scope() as session:
        session.execute(update(Subscriber).values(locale="xx_XX"))
    # when October is run
    summary = run_json(env, "--period", "2026-10", expect=1)
    # then run.failed tells the run and why
    data = receiver.wait_handled("run.failed")
    assert (data["run_id"], data["status"], data["error"]) == (
        summary["run_id"],
        "failed",
        "every invoice failed",
    )


def test_a_credit_note_sends_credit_note_issued(env: Env, receivers: Receivers) -> None:
    # given October run, and a receiver
    receiver = receivers.add(env)
    seed_fixtures(env)
    run_json(env, "--period", "2026-10")
    # when a partial credit note is issued
    proc = env.cli("credit", "INV-2026-10-000001", "--amount", "5.00", "--reason", "Roaming outage", "--json")
    assert proc.returncode == 0, proc.stderr
    # then credit_note.issued tells its number, the invoice it credits and its amounts
    data = receiver.wait_handled("credit_note.issued")
    note = json.loads(proc.stdout)
    assert (data["number"], data["credits"], data["total"], data["currency"], data["reason"]) == (
        note["number"],
        "INV-2026-10-000001",
        "-5.00",
        "EUR",
        "Roaming outage",
    )


def _one_invoice_emailed(env: Env, receivers: Receivers) -> tuple[SmtpServer, Receiver, dict[str, Any], int]:
    """October billed with A-0013 by e-mail, delivered to an SMTP server of its own while a
    receiver listens: the server, the receiver, the invoice.sent event's data and the run id."""
    run_id = billed(env, {"A-0013": "email"})["run_id"]
    server = SmtpServer().start()
    use_smtp(env, server.url())
    receiver = receivers.add(env)
    deliver_json(env, run_id)
    return server, receiver, receiver.wait_handled("invoice.sent"), run_id


def test_an_emailed_invoice_sends_invoice_sent_and_its_bounce_invoice_bounced(
    env: Env, receivers: Receivers
) -> None:
    # given October billed with one subscriber by e-mail, an SMTP server and a receiver
    # when the invoice is e-mailed, and its bounce comes back
    server, receiver, sent, run_id = _one_invoice_emailed(env, receivers)
    bounce = env.path / "bounce.eml"
    bounce.write_bytes(dsn(sent["message_id"], sent["recipient"]))
    bounces_json(env, str(bounce))
    bounced = receiver.wait_handled("invoice.bounced")
    # then both events name the invoice, its run, its subscriber and the message
    assert (sent["account"], sent["run_id"], sent["reply"][:3]) == ("A-0013", run_id, "250")
    assert {k: bounced[k] for k in ("number", "account", "message_id", "status")} == {
        "number": sent["number"],
        "account": "A-0013",
        "message_id": sent["message_id"],
        "status": "5.1.1",
    }
    server.stop()


def test_outside_text_in_an_event_is_cleaned_as_every_output_shows_it(env: Env, receivers: Receivers) -> None:
    # given October billed with one subscriber by e-mail, an SMTP server and a receiver
    server, receiver, sent, _ = _one_invoice_emailed(env, receivers)
    # when a bounce comes back whose diagnostic (a remote server's text) carries a bidi
    # override, a zero width space and a control character
    bounce = env.path / "bounce.eml"
    bounce.write_bytes(
        dsn(sent["message_id"], sent["recipient"]).replace(
            b"Recipient address rejected", "\u202eRecipient\u200b address\x01 rejected".encode()
        )
    )
    bounces_json(env, str(bounce))
    # and a credit note is given a reason with a right-to-left mark and an isolate
    proc = env.cli(
        "credit", sent["number"], "--amount", "1", "--reason", "\u200fRoaming\u2066 outage", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    # then both events carry the cleaned text
    bounced = receiver.wait_handled("invoice.bounced")
    credited = receiver.wait_handled("credit_note.issued")
    assert (bounced["diagnostic"], credited["reason"]) == (
        f"smtp; 550 5.1.1 <{sent['recipient']}>: Recipient address rejected: User unknown",
        "Roaming outage",
    )
    server.stop()


def test_without_webhook_urls_a_run_records_no_event(env: Env) -> None:
    # given no INVOICING_WEBHOOK_URLS
    seed_fixtures(env)
    # when October is run
    run_json(env, "--period", "2026-10")
    # then the outbox is empty
    assert count_rows(WebhookMessage) == 0


def test_without_webhook_urls_marking_an_invoice_sent_reads_nothing_for_an_event(
    env: Env, monkeypatch: pytest.MonkeyPatch, receivers: Receivers
) -> None:
    # given two e-mailed invoices claimed for sending, and the statements the database runs
    run_id = billed(env, {"A-0001": "email", "A-0013": "email"})["run_id"]
    with session_scope() as session:
        first, second = delivery_state.prepare(session, run_id, "northwind.example", 600)
        delivery_state.claim(session, [first, second], "task-1")
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    sqlalchemy_event.listen(get_engine(), "before_cursor_execute", seen)
    # when one is marked sent with webhooks off, the other with them on
    with session_scope() as session:
        delivery_state.mark_sent(session, first, "250 2.0.0 Ok")
    off = statements[:]
    receivers.add(env, up=False)
    env.apply(monkeypatch)
    statements.clear()
    with session_scope() as session:
        delivery_state.mark_sent(session, second, "250 2.0.0 Ok")
    sqlalchemy_event.remove(get_engine(), "before_cursor_execute", seen)
    # then only with webhooks on is the subscriber read for the event
    assert not any("subscribers" in statement for statement in off)
    assert any("subscribers" in statement for statement in statements)


# --- signatures, as a receiver checks them ----------------------------------------------------


def test_during_a_rotation_a_receiver_holding_either_secret_verifies(env: Env) -> None:
    # given two secrets, and a receiver that holds only the new one
    old, new = new_secret(), new_secret()
    receiver = Receiver(new).start()
    # when an event is POSTed signed with both
    body = b'{"type":"run.completed","timestamp":"2026-11-01T02:00:00.000Z","data":{"run_id":1}}'
    answer = webhooks.post(receiver.url, "msg_rotation", body, parse_secrets(f"{old} {new}"), 5)
    # then it is taken, carrying one signature per secret
    signatures = receiver.posts[0][0]["webhook-signature"].split()
    assert (answer.problem, receiver.types(), len(signatures)) == (None, ["run.completed"], 2)
    receiver.stop()


def test_a_replayed_event_is_answered_but_handled_once(env: Env) -> None:
    # given an event the receiver handled
    secret = new_secret()
    receiver = Receiver(secret).start()
    body = b'{"type":"run.completed","timestamp":"2026-11-01T02:00:00.000Z","data":{"run_id":1}}'
    assert webhooks.post(receiver.url, "msg_replayed", body, parse_secrets(secret), 5).problem is None
    headers, sent, _ = receiver.posts[0]
    # when the same request is POSTed again, as a replay or a retry would
    answer = post_again(receiver.url, headers, sent)
    # then it is answered as taken, and handled only the first time
    assert (answer, len(receiver.handled)) == (204, 1)
    receiver.stop()


def test_a_replay_with_an_old_timestamp_is_refused(env: Env) -> None:
    # given an event signed correctly, but ten minutes ago
    secret = new_secret()
    receiver = Receiver(secret).start()
    body = b'{"type":"run.completed","timestamp":"2026-11-01T02:00:00.000Z","data":{"run_id":1}}'
    then = datetime.now(UTC) - timedelta(minutes=10)
    headers = {
        "content-type": "application/json",
        "webhook-id": "msg_old",
        "webhook-timestamp": str(int(then.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_old", then, body),
    }
    # when it is POSTed now
    answer = post_again(receiver.url, headers, body)
    # then the receiver refuses it and handles nothing
    assert (answer, receiver.handled) == (400, [])
    receiver.stop()


# --- retries: workers, and the embedded default -----------------------------------------------


def test_a_receiver_answering_500_twice_handles_the_event_once(
    workers: Workers, receivers: Receivers
) -> None:
    # given a receiver that answers 500 to its first two POSTs, and worker processes
    env = workers.env
    receiver = receivers.add(env, failures=2)
    seed_fixtures(env)
    workers.start(count=1, concurrency=2)
    # when October is run
    run_json(env, "--period", "2026-10")
    receiver.wait_handled("run.completed")
    # then it was POSTed three times under one webhook-id, and handled once
    ids = [headers["webhook-id"] for headers, _, _ in receiver.posts]
    assert ([status for *_, status in receiver.posts], len(set(ids)), receiver.types()) == (
        [500, 500, 204],
        1,
        ["run.completed"],
    )


def test_a_receiver_down_during_the_run_gets_the_event_when_it_is_back(
    workers: Workers, receivers: Receivers
) -> None:
    # given a receiver that is not up, and worker processes
    env = workers.env
    receiver = receivers.add(env, up=False)
    seed_fixtures(env)
    workers.start(count=1, concurrency=2)
    # when October is run, and the receiver comes up after it
    summary = run_json(env, "--period", "2026-10")
    pending = status_of(env, summary["run_id"])["webhooks"]
    receiver.start()
    data = receiver.wait_handled("run.completed", timeout=120)
    # then the run completed as always, its event waited, and went out once the receiver was back
    assert (summary["status"], pending["pending"], data) == (
        "completed",
        1,
        summary | {"kind": "billing", "error": None},
    )


def test_embedded_events_a_receiver_missed_go_out_with_the_next_command(
    env: Env, receivers: Receivers
) -> None:
    # given an embedded run whose receiver was down
    receiver = receivers.add(env, up=False)
    seed_fixtures(env)
    summary = run_json(env, "--period", "2026-10")
    assert status_of(env, summary["run_id"])["webhooks"]["pending"] == 1
    # when the receiver is up and the next command runs
    receiver.start()
    run_json(env, "--period", "2026-10")
    # then the missed event is delivered
    assert status_of(env, summary["run_id"])["webhooks"] == {"pending": 0, "delivered": 1, "failed": 0}


def test_a_command_that_ends_early_lets_the_events_it_handed_out_finish_first(
    env: Env, receivers: Receivers
) -> None:
    # given an embedded run whose receiver was down: its run.completed waits in the outbox
    receiver = receivers.add(env, up=False, answer_after_s=2, INVOICING_WEBHOOK_TIMEOUT_S="60")
    seed_fixtures(env)
    summary = run_json(env, "--period", "2026-10")
    # when the receiver is up, answering slowly, and the next command, started once the
    # event is due again, hands it out and ends early (`retry` of a complete run exits
    # inside the embedded worker's block)
    receiver.start()
    assert wait_until(_due_again, 30)
    proc = env.cli("retry", str(summary["run_id"]))
    # then the command waited for the answer: the event is delivered, once
    assert (proc.returncode, status_of(env, summary["run_id"])["webhooks"], receiver.types()) == (
        0,
        {"pending": 0, "delivered": 1, "failed": 0},
        ["run.completed"],
    )


def _due_again() -> bool:
    """Whether the outbox has pending events and all are due now, as a command's sweep asks."""
    with session_scope() as session:
        waiting = session.scalar(select(func.count()).where(WebhookMessage.status == WebhookStatus.PENDING))
        ready = session.scalar(select(func.count()).where(webhooks.due(datetime.now(UTC))))
    return bool(waiting) and ready == waiting


def _given_up() -> bool:
    """Whether the one event in the outbox is failed for good."""
    with session_scope() as session:
        return webhooks.counts(session)["failed"] == 1


def test_an_event_refused_for_its_whole_retry_time_is_failed(
    env: Env, monkeypatch: pytest.MonkeyPatch, receivers: Receivers
) -> None:
    # given a receiver that always answers 500, and a retry time of one second
    receiver = receivers.add(env, failures=10_000, INVOICING_WEBHOOK_RETRY_FOR_S="1")
    env.apply(monkeypatch)
    init_db()
    # when an event is emitted in this process (the embedded sender retries it here)
    with session_scope() as session:
        webhooks.emit(session, "run.failed", {"run_id": 1})

    # then, its retry time over, it is failed, after more than one attempt
    assert wait_until(_given_up, 30) and len(receiver.posts) > 1


def test_a_receiver_answering_410_gone_gets_the_event_no_more(
    env: Env, monkeypatch: pytest.MonkeyPatch, receivers: Receivers
) -> None:
    # given a receiver that answers 410 Gone: it wants no more events
    receiver = receivers.add(env, failures=10_000, failure_status=410)
    env.apply(monkeypatch)
    init_db()
    # when an event is emitted in this process
    with session_scope() as session:
        webhooks.emit(session, "run.failed", {"run_id": 1})

    # then it is failed after that one POST, not retried for a day
    assert wait_until(_given_up, 30) and len(receiver.posts) == 1


def test_a_retry_after_longer_than_the_backoff_is_waited_for() -> None:
    # given the default settings (a first retry after about 5 s)
    settings = Settings(_env_file=None)
    # when a receiver asked for two minutes
    delay = webhooks.backoff(1, settings, asked=120.0)
    # then the next attempt waits that long
    assert delay == 120.0


# --- bad settings -----------------------------------------------------------------------------


def test_a_secret_shorter_than_the_spec_allows_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # given a whsec_ secret of 16 bytes (Standard Webhooks keys are 24 to 64)
    monkeypatch.setenv("INVOICING_WEBHOOK_SECRET", "whsec_" + base64.b64encode(bytes(16)).decode())
    # when the settings are read, then they are refused naming the setting and the sizes
    with pytest.raises(ConfigError, match="INVOICING_WEBHOOK_SECRET: secret 1 holds 16 bytes.*24 to 64"):
        read_settings()


def test_a_webhook_url_that_is_not_http_is_refused_in_one_line(env: Env) -> None:
    # when a command starts with an ftp:// webhook URL
    proc = env.cli(
        "status", INVOICING_WEBHOOK_URLS="ftp://hooks.example/in", INVOICING_WEBHOOK_SECRET=new_secret()
    )
    # then one line names the setting, exit 2
    assert (proc.returncode, len(proc.stderr.strip().splitlines())) == (2, 1)
    assert "INVOICING_WEBHOOK_URLS" in proc.stderr and "http" in proc.stderr


def test_a_malformed_secret_is_refused_without_being_printed(env: Env) -> None:
    # when a command starts with a secret that is not whsec_ + base64
    secret = "whsec_n0t*base64-at-all"
    proc = env.cli("status", INVOICING_WEBHOOK_URLS="http://127.0.0.1:9/in", INVOICING_WEBHOOK_SECRET=secret)
    # then one line names the setting, exit 2, and the secret is nowhere
    assert (proc.returncode, len(proc.stderr.strip().splitlines())) == (2, 1)
    assert "INVOICING_WEBHOOK_SECRET" in proc.stderr and "n0t" not in proc.stdout + proc.stderr


def test_config_masks_the_webhook_secret_and_url_passwords(env: Env) -> None:
    # given webhook settings with a secret and a password in a URL
    secret = new_secret()
    url = "https://hooks:s3cr3t-pw@hooks.example/in"
    # when the settings are shown
    proc = env.cli("config", "--json", INVOICING_WEBHOOK_URLS=url, INVOICING_WEBHOOK_SECRET=secret)
    # then neither the secret nor the password appears
    shown = json.loads(proc.stdout)["settings"]
    assert (shown["INVOICING_WEBHOOK_SECRET"], shown["INVOICING_WEBHOOK_URLS"]) == (
        "***",
        ["https://hooks:***@hooks.example/in"],
    )
    assert secret[6:] not in proc.stdout and "s3cr3t" not in proc.stdout


def test_every_status_names_the_webhook_states(env: Env) -> None:
    # given a run without webhooks
    seed_fixtures(env)
    summary = run_json(env, "--period", "2026-10")
    # when its status is asked for
    status = status_of(env, summary["run_id"])
    # then the webhook counts are there, all zero, beside the summary
    assert (status["webhooks"], summary_of(status)) == ({"pending": 0, "delivered": 0, "failed": 0}, summary)


def test_a_delivered_row_attempted_again_is_not_posted_again(
    env: Env, monkeypatch: pytest.MonkeyPatch, receivers: Receivers
) -> None:
    # given an event recorded in the outbox and not handed out yet
    receiver = receivers.add(env)
    env.apply(monkeypatch)
    init_db()
    with session_scope() as session:
        row = WebhookMessage(
            webhook_id="msg_race",
            url=receiver.url,
            type="run.completed",
            body='{"type":"run.completed","timestamp":"2026-11-01T02:00:00.000Z","data":{}}',
            status=WebhookStatus.PENDING,
            attempts=0,
            created_at=datetime.now(UTC),
            next_attempt_at=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        row_id = row.id
    # when it is attempted twice (a swept copy and the original task, one after the other)
    webhooks.attempt(row_id)
    webhooks.attempt(row_id)
    # then it was POSTed once
    assert len(receiver.posts) == 1
