"""Sending a batch of invoices by e-mail in one SMTP session: the plain function the
delivery task wraps.

For each invoice: claimed `sending` (one commit for the batch, before any DATA), its PDF
read and checked against the recorded sha256, the message written, sent, and `sent`
committed right after the server's 250. A 4xx answer or a lost connection defers it
(tried again after a backoff, INVOICING_MAIL_RETRY_S doubled each time, then failed
after INVOICING_MAIL_RETRIES); a 5xx fails it with the server's reply. A lost connection
is opened again once for the rest of the batch.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from invoicing.billing import seller_from
from invoicing.config import Settings, get_settings
from invoicing.db import session_scope
from invoicing.delivery import state
from invoicing.delivery.message import BadMessage, Sender, compose, sender_of
from invoicing.delivery.ratelimit import Limiter
from invoicing.delivery.smtp import (
    Server,
    SmtpLoginRefused,
    SmtpTlsRefused,
    SmtpUnreachable,
    connect,
    reply_text,
    send,
    server_of,
)
from invoicing.errors import UsageError, first_line
from invoicing.storage import read

log = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    sent: int = 0
    failed: int = 0
    deferred: list[int] = field(default_factory=list)
    retry_in: float | None = None  # seconds until the deferred ones are due

    def as_dict(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "deferred": self.deferred,
            "retry_in": self.retry_in,
        }


def sender_from(settings: Settings) -> Sender:
    seller = seller_from(settings)
    return sender_of(settings.mail_from, settings.mail_reply_to, seller.name, seller.email)


def smtp_server(settings: Settings) -> Server:
    if not settings.smtp_url:
        raise UsageError("INVOICING_SMTP_URL is not set: where should the invoices be sent from?")
    return server_of(settings.smtp_url)


_limiters: dict[tuple[float, str | None, str], Limiter] = {}


def limiter(settings: Settings) -> Limiter:
    url = (
        settings.broker_url
        if settings.broker_url and urlsplit(settings.broker_url).scheme.startswith("redis")
        else None
    )
    key = (settings.mail_rate, url, settings.redis_prefix)
    if key not in _limiters:
        _limiters[key] = Limiter(settings.mail_rate, url, settings.redis_prefix)
    return _limiters[key]


def backoff(settings: Settings, attempts: int) -> float:
    return settings.mail_retry_s * 2 ** max(0, attempts - 1)


def deliver_batch(invoice_ids: list[int], task_id: str, settings: Settings | None = None) -> BatchOutcome:
    """Send these invoices' e-mails (those still to send), in one SMTP session."""
    settings = settings or get_settings()
    server = smtp_server(settings)
    sender = sender_from(settings)
    with session_scope() as session:
        claimed = state.claim(session, invoice_ids, task_id)
    # Committed: every one of them is `sending` before the first DATA.
    outcome = BatchOutcome()
    if not claimed:
        return outcome
    rate = limiter(settings)
    session_smtp: smtplib.SMTP | None = None
    lost_once = False
    for item in claimed:
        try:
            pdf = read(item.pdf_path or "", item.sha256)
            data = compose(item, sender, pdf)
        except (BadMessage, OSError, ValueError) as exc:
            _failed(item.invoice_id, f"not sent: {first_line(exc)}", outcome)
            continue
        try:
            if session_smtp is None:
                session_smtp = connect(server, settings.connect_timeout_s)
            rate.wait()
            reply = send(session_smtp, sender.address, item.recipient, data, item.number)
        except smtplib.SMTPResponseException as exc:
            text = reply_text(exc.smtp_code, exc.smtp_error)
            if 400 <= exc.smtp_code < 500:
                _deferred(item, text, settings, outcome)
            else:
                _failed(item.invoice_id, text, outcome)
            if exc.smtp_code == 421:  # the server is closing the session
                _close(session_smtp)
                session_smtp = None
            continue
        except (smtplib.SMTPException, SmtpUnreachable, SmtpLoginRefused, SmtpTlsRefused, OSError) as exc:
            _deferred(item, f"connection lost: {first_line(exc)}", settings, outcome)
            _close(session_smtp)
            session_smtp = None
            if lost_once:
                _defer_rest(claimed, item, settings, outcome)
                break
            lost_once = True
            continue
        with session_scope() as session:
            state.mark_sent(session, item.invoice_id, reply)
        outcome.sent += 1
    if session_smtp is not None:
        try:
            session_smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
    return outcome


def _close(session_smtp: smtplib.SMTP | None) -> None:
    if session_smtp is not None:
        try:
            session_smtp.close()
        except OSError:
            pass


def _failed(invoice_id: int, reason: str, outcome: BatchOutcome) -> None:
    with session_scope() as session:
        state.mark_failed(session, invoice_id, reason)
    outcome.failed += 1


def _deferred(item: state.Claimed, reason: str, settings: Settings, outcome: BatchOutcome) -> None:
    if item.attempts > settings.mail_retries:
        _failed(item.invoice_id, f"gave up after {item.attempts} attempts: {reason}", outcome)
        return
    delay = backoff(settings, item.attempts)
    with session_scope() as session:
        state.mark_deferred(session, item.invoice_id, reason, datetime.now(UTC) + timedelta(seconds=delay))
    outcome.deferred.append(item.invoice_id)
    outcome.retry_in = delay if outcome.retry_in is None else min(outcome.retry_in, delay)
    log.info("invoice %s deferred for %.0f s: %s", item.number, delay, reason)


def _defer_rest(
    claimed: list[state.Claimed], current: state.Claimed, settings: Settings, outcome: BatchOutcome
) -> None:
    rest = claimed[claimed.index(current) + 1 :]
    for item in rest:
        _deferred(item, "connection lost earlier in the batch", settings, outcome)
