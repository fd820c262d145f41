"""Delivery as the tests drive it: a billed run whose subscribers have given channels,
the settings a user exports to send mail, `deliver`/`bounces` JSON, and delivery status
notifications shaped as real servers send them."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import select

from invoicing.db import session_scope
from invoicing.models import Invoice, Subscriber
from tests.support.envs import Env
from tests.support.factories import FIXTURES, write_json
from tests.support.templates import copy_database, made_once

PERIOD = "2026-10"
SENDER = "billing@northwind.example"
# Four of the fixtures' subscribers by e-mail (one of them on paper too): 16 printed, 4 e-mailed.
EMAIL = {"A-0001": "email", "A-0009": "both", "A-0013": "email", "A-0016": "email"}


def fixtures_with_channels(channels: dict[str, str]) -> dict[str, Any]:
    """The bundled fixtures, each account of `channels` given that channel."""
    data = json.loads(Path(FIXTURES).read_text(encoding="utf-8"))
    for subscriber in data["subscribers"]:
        if subscriber["account"] in channels:
            subscriber["channel"] = channels[subscriber["account"]]
    return data


def billed(env: Env, channels: dict[str, str], **extra: str) -> dict[str, Any]:
    """A database with the fixtures (these channels) and October billed; `run --json`.
    Billed once per test process (`templates`): each test gets a copy of the database,
    the invoices' files are the template's, read only."""

    def make(template: Env) -> dict[str, Any]:
        template.cli("db", "init", check=True)
        template.cli("import", write_json(template, fixtures_with_channels(channels)), check=True, **extra)
        proc = template.cli("run", "--period", PERIOD, "--json", check=True, **extra)
        run: dict[str, Any] = json.loads(proc.stdout)
        return run

    folder, run = made_once(json.dumps(["billed", channels, extra], sort_keys=True), make)
    copy_database(folder, env)
    return run


def number_of(account: str) -> str:
    """The number of the one invoice of `account` (in the database the test uses)."""
    with session_scope() as session:
        return session.scalars(
            select(Invoice.number)
            .join(Subscriber, Subscriber.id == Invoice.subscriber_id)
            .where(Subscriber.account == account)
        ).one()


def use_smtp(env: Env, url: str, retry_s: str = "0.2") -> None:
    """Send through `url`, from SENDER, deferred messages tried again after `retry_s`."""
    env.vars.update(
        {
            "INVOICING_SMTP_URL": url,
            "INVOICING_MAIL_FROM": f"Northwind Billing <{SENDER}>",
            "INVOICING_MAIL_REPLY_TO": "support@northwind.example",
            "INVOICING_MAIL_RETRY_S": retry_s,
        }
    )


def deliver_json(env: Env, run_id: int, expect: int = 0, *args: str) -> dict[str, Any]:
    proc = env.cli("deliver", str(run_id), "--json", *args)
    assert proc.returncode == expect, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


def status_delivery(env: Env, run_id: int) -> dict[str, Any]:
    proc = env.cli("status", str(run_id), "--json")
    assert "Traceback" not in proc.stderr, proc.stderr
    delivery: dict[str, Any] = json.loads(proc.stdout)["delivery"]
    return delivery


def dsn(
    message_id: str | None,
    recipient: str,
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    original: str | None = "rfc822",
    envelope_id: str | None = None,
    action: str = "failed",
) -> bytes:
    """A delivery status notification as Postfix writes one: a human-readable part, the
    message/delivery-status part, and the original as `original` says: "rfc822" (the
    whole message), "headers" (text/rfc822-headers), or None (not returned)."""
    boundary = "8A3C21E0F1.1793505784/mx.example.net"
    per_message = "Reporting-MTA: dns; mx.example.net\nArrival-Date: Sun,  1 Nov 2026 02:03:04 +0000\n"
    if envelope_id:
        per_message = f"Original-Envelope-Id: {envelope_id}\n" + per_message
    headers = f"From: Northwind Billing <{SENDER}>\nTo: {recipient}\nSubject: Invoice\n"
    if message_id:
        headers += f"Message-ID: {message_id}\n"
    parts = [
        "Content-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n"
        "This is the mail system at host mx.example.net.\n\nI'm sorry to have to inform you that your "
        "message could not\nbe delivered to one or more recipients.\n",
        "Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
        f"{per_message}\nFinal-Recipient: rfc822; {recipient}\nOriginal-Recipient: rfc822;{recipient}\n"
        f"Action: {action}\nStatus: {status}\nRemote-MTA: dns; mx.example.net\n"
        f"Diagnostic-Code: {diagnostic.format(rcpt=recipient)}\n",
    ]
    if original == "headers":
        parts.append(
            "Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n"
            + headers
        )
    elif original == "rfc822":
        parts.append(
            "Content-Description: Undelivered Message\nContent-Type: message/rfc822\n\n"
            f"{headers}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nthe invoice's text\n"
        )
    body = "".join(f"--{boundary}\n{part}\n" for part in parts) + f"--{boundary}--\n"
    text = (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
        f"To: {SENDER}\nSubject: Undelivered Mail Returned to Sender\n"
        "Message-Id: <20261101020304.8A3C21E0F1@mx.example.net>\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="{boundary}"\n\n'
        f"This is a MIME-encapsulated message.\n\n{body}"
    )
    return text.replace("\n", "\r\n").encode("ascii")


def unrelated_mail() -> bytes:
    mail = EmailMessage()
    mail["From"] = "someone@example.org"
    mail["To"] = SENDER
    mail["Subject"] = "Question about my bill"
    mail.set_content("Hello, why is my bill so high?\n")
    return mail.as_bytes()


def bounces_json(env: Env, *paths: str, expect: int = 0) -> dict[str, Any]:
    proc = env.cli("bounces", *paths, "--json")
    assert proc.returncode == expect, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data
