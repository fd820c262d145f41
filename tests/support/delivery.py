"""Delivery as the tests drive it: a billed run whose subscribers have given channels,
the settings a user exports to send mail, `deliver`/`bounces` JSON, and delivery status
notifications shaped as real servers send them."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from tests.support.envs import Env
from tests.support.factories import FIXTURES, write_json

PERIOD = "2026-10"
SENDER = "billing@northwind.example"


def fixtures_with_channels(channels: dict[str, str]) -> dict[str, Any]:
    """The bundled fixtures, each account of `channels` given that channel."""
    data = json.loads(Path(FIXTURES).read_text(encoding="utf-8"))
    for subscriber in data["subscribers"]:
        if subscriber["account"] in channels:
            subscriber["channel"] = channels[subscriber["account"]]
    return data


def billed(env: Env, channels: dict[str, str], **extra: str) -> dict[str, Any]:
    """A database with the fixtures (these channels) and October billed; `run --json`."""
    env.cli("db", "init", check=True)
    env.cli("import", write_json(env, fixtures_with_channels(channels)), check=True, **extra)
    proc = env.cli("run", "--period", PERIOD, "--json", check=True, **extra)
    return json.loads(proc.stdout)


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
    report = EmailMessage()
    report["From"] = "MAILER-DAEMON@mx.example.net (Mail Delivery System)"
    report["To"] = SENDER
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Message-ID"] = "<20261101020304.ABC@mx.example.net>"
    report.set_content(
        "This is the mail system at host mx.example.net.\n\nI'm sorry to have to inform you...\n"
    )
    report.make_mixed()
    report.set_type("multipart/report")
    report.set_param("report-type", "delivery-status")
    per_message = "Reporting-MTA: dns; mx.example.net\nArrival-Date: Sun, 1 Nov 2026 02:03:04 +0000\n"
    if envelope_id:
        per_message = f"Original-Envelope-Id: {envelope_id}\n" + per_message
    per_recipient = (
        f"Final-Recipient: rfc822; {recipient}\nOriginal-Recipient: rfc822;{recipient}\n"
        f"Action: {action}\nStatus: {status}\nRemote-MTA: dns; mx.example.net\n"
        f"Diagnostic-Code: {diagnostic.format(rcpt=recipient)}\n"
    )
    status_part = EmailMessage()
    status_part.set_payload(per_message + "\n" + per_recipient)
    status_part["Content-Type"] = "message/delivery-status"
    status_part["Content-Description"] = "Delivery report"
    report.attach(status_part)
    headers = f"From: {SENDER}\nTo: {recipient}\nSubject: Invoice\n"
    if message_id:
        headers += f"Message-ID: {message_id}\n"
    if original == "headers":
        part = EmailMessage()
        part.set_payload(headers)
        part["Content-Type"] = "text/rfc822-headers"
        report.attach(part)
    elif original == "rfc822":
        inner = EmailMessage()
        for line in headers.strip().splitlines():
            name, _, value = line.partition(": ")
            inner[name] = value
        inner.set_content("the invoice's text\n")
        outer = EmailMessage()
        outer.set_type("message/rfc822")
        outer.set_payload([inner])
        outer.replace_header("Content-Type", "message/rfc822")
        report.attach(outer)
    return report.as_bytes()


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
