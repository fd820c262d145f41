"""Signed webhooks (Standard Webhooks): events recorded in a transactional outbox and POSTed
after the commit, at least once, retried with exponential backoff for up to a day.

Why an outbox: `emit` writes the event into the caller's own transaction (the one that
records the run's result, issues the credit note), so an event exists exactly when what
it tells happened, a crash can lose none, and sending it can never block or fail what
emitted it: the POST happens after the commit, elsewhere. One row per event and URL; its
body is kept as first written, so every attempt sends the same bytes under the same
`webhook-id`, with a fresh `webhook-timestamp` and signature (receivers refuse a stale
timestamp, and a retry may come hours later).

Who sends: after the commit, each new row is handed to a Celery task
(`invoicing.deliver_webhook`) with a broker, or to a thread of this process on the
embedded default, as runs are. A failed attempt is tried again after
INVOICING_WEBHOOK_RETRY_S, doubled each time (at most an hour apart), until
INVOICING_WEBHOOK_RETRY_FOR_S (a day) has passed since the event: then it is `failed`.
An attempt first claims its row (a conditional UPDATE pushing `next_attempt_at` past the
attempt's timeout), so two deliverers never POST it at once; a row whose deliverer was
lost (a killed worker, a command that exited, a broker that did not take the task) is
due again once that claim runs out, and the periodic sweep (`sweep`, on beat; at the
start of every embedded command) hands it out again.
"""

from __future__ import annotations

import email.utils
import heapq
import http.client
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, event, func, select, update
from sqlalchemy.orm import Session

from invoicing.config import Settings, get_settings, redact
from invoicing.db import session_scope
from invoicing.delivery.signing import signature
from invoicing.errors import first_line, plural
from invoicing.models import WebhookMessage, WebhookStatus
from invoicing.untrusted import clean

log = logging.getLogger(__name__)

# The closed vocabulary of events.
EVENT_TYPES = frozenset(
    {"run.completed", "run.failed", "invoice.failed", "invoice.sent", "invoice.bounced", "credit_note.issued"}
)
MAX_GAP_S = 3600.0  # the longest wait between two attempts
CLAIM_MARGIN_S = 60.0  # an attempt is taken for lost this long after its timeout ran out
SWEEP_LIMIT = 1000  # rows handed out per sweep, the longest due first
RESPONSE_READ = 64 * 1024  # bytes of a receiver's answer read (and thrown away)
_NEW_IDS = "webhook_outbox_new_ids"  # Session.info key: rows this transaction wrote


def enabled() -> bool:
    """Whether events are recorded at all (INVOICING_WEBHOOK_URLS set): a caller that has
    to read the database for an event's data asks this first, so that webhooks left off
    cost nothing."""
    return bool(get_settings().webhook_urls)


def emit(session: Session, type: str, data: dict[str, Any]) -> None:
    """Record event `type` with `data` for every INVOICING_WEBHOOK_URLS in the caller's
    transaction; it is sent once that transaction commits (nothing if it rolls back).

    No URLs configured: nothing is written. Decimal amounts and dates become strings.
    Every text is `untrusted.clean`ed, as the invoice, the mail and the CSVs show it: a
    bounce's diagnostic code, an SMTP server's reply and a credit note's reason come
    from outside, and a row stored before the rule may still hold what it drops."""
    settings = get_settings()
    if not settings.webhook_urls:
        return
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {type!r}")
    now = datetime.now(UTC)
    body = json.dumps(
        {
            "type": type,
            "timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "data": _cleaned(data),
        },
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    webhook_id = f"msg_{uuid.uuid4().hex}"
    rows = [
        WebhookMessage(
            webhook_id=webhook_id,
            url=url,
            type=type,
            body=body,
            status=WebhookStatus.PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        for url in settings.webhook_urls
    ]
    session.add_all(rows)
    session.flush()
    session.info.setdefault(_NEW_IDS, []).extend(row.id for row in rows)
    if not event.contains(session, "after_commit", _after_commit):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_soft_rollback", _after_rollback)


def _cleaned(value: Any) -> Any:
    """`value` with every string in it cleaned (dicts and lists walked)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {key: _cleaned(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_cleaned(item) for item in value]
    return value


def _after_commit(session: Session) -> None:
    ids = session.info.pop(_NEW_IDS, [])
    if ids:
        hand_out(ids)


def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_NEW_IDS, None)  # those rows were never written


def hand_out(ids: list[int], database_url: str | None = None) -> None:
    """Give rows to their deliverers: Celery tasks, or this process's sender when there is
    no broker. Never raises: a row not handed out waits for the sweep."""
    try:
        settings = get_settings()
        if settings.embedded:
            _sender.submit(ids, database_url or settings.database_url)
            return
        from invoicing.celery import app

        for message_id in ids:
            # No retries against a broker that is away: the caller's work is done, and
            # the sweep hands the row out again.
            app.send_task("invoicing.deliver_webhook", args=(message_id,), retry=False, ignore_result=True)
    except Exception as exc:  # noqa: BLE001 - an event never fails what emitted it
        log.warning("%s wait for the next sweep: %s", plural(len(ids), "webhook event"), first_line(exc))


def due(now: datetime) -> ColumnElement[bool]:
    """An outbox row to hand out at `now`: not answered yet, and its next attempt not later."""
    return and_(WebhookMessage.status == WebhookStatus.PENDING, WebhookMessage.next_attempt_at <= now)


def sweep(settings: Settings | None = None, limit: int = SWEEP_LIMIT) -> int:
    """Hand out the rows that are due and that nobody holds; returns how many."""
    settings = settings or get_settings()
    if not settings.webhook_urls:
        return 0
    with session_scope() as session:
        ids = list(
            session.scalars(
                select(WebhookMessage.id)
                .where(due(datetime.now(UTC)))
                .order_by(WebhookMessage.next_attempt_at)
                .limit(limit)
            )
        )
    if ids:
        hand_out(ids, settings.database_url)
    return len(ids)


def backoff(attempts: int, settings: Settings, asked: float | None = None) -> float:
    """Seconds before the next attempt after `attempts` failed ones: exponential, capped,
    with up to a fifth taken off at random (the spec's jitter: receivers that failed
    under load are not hit by every sender at once), or what the receiver asked for in
    Retry-After when that is longer."""
    delay = min(settings.webhook_retry_s * 2 ** max(attempts - 1, 0), MAX_GAP_S)
    delay *= random.uniform(0.8, 1.0)
    return min(max(delay, asked or 0.0), MAX_GAP_S)


def attempt(
    message_id: int, database_url: str | None = None, settings: Settings | None = None
) -> float | None:
    """POST one row if it is due and nobody else holds it; record the outcome.

    Returns the seconds until it should be tried again, or None when there is nothing more
    to do here (delivered, given up, not due, or held by another deliverer)."""
    settings = settings or get_settings()
    keys = settings.webhook_keys()
    if not keys:  # webhooks turned off since: the row waits until they are on again
        return None
    timeout = settings.webhook_timeout_s
    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        claimed = session.execute(  # type: ignore[attr-defined]  # an UPDATE's CursorResult
            update(WebhookMessage)
            .where(WebhookMessage.id == message_id, due(now))
            .values(next_attempt_at=now + timedelta(seconds=timeout + CLAIM_MARGIN_S))
        ).rowcount
        if not claimed:
            return None
        message = session.get(WebhookMessage, message_id)
        assert message is not None
        url, webhook_id, body = message.url, message.webhook_id, message.body.encode()
        attempts, created_at = message.attempts + 1, message.created_at
    answer = post(url, webhook_id, body, keys, timeout)
    problem = answer.problem
    done = datetime.now(UTC)
    values: dict[str, Any] = {"attempts": attempts, "last_error": problem}
    delay = None
    if problem is None:
        values |= {"status": WebhookStatus.DELIVERED, "delivered_at": done}
    else:
        delay = backoff(attempts, settings, answer.retry_after)
        age = (done - _aware(created_at)).total_seconds()
        # 410 Gone: the receiver wants no more events (the spec: stop sending).
        if answer.gone or age + delay > settings.webhook_retry_for_s:
            values["status"] = WebhookStatus.FAILED
            log.warning(
                "webhook %s to %s failed for good after %d attempts: %s",
                webhook_id,
                redact(url),
                attempts,
                problem,
            )
            delay = None
        else:
            values["next_attempt_at"] = done + timedelta(seconds=delay)
            log.info("webhook %s to %s: %s; again in %.1f s", webhook_id, redact(url), problem, delay)
    with session_scope(database_url) as session:
        session.execute(update(WebhookMessage).where(WebhookMessage.id == message_id).values(**values))
    return delay


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would follow a 301/302/303 as a GET without the body: a redirect is an
    # answer that is not 2xx, tried again like any other.
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


@dataclass(frozen=True)
class Answer:
    """What one POST came to: `problem` None for a 2xx answer, else why not, in one line."""

    problem: str | None
    retry_after: float | None = None  # seconds, from a Retry-After header
    gone: bool = False  # 410 Gone


def post(url: str, webhook_id: str, body: bytes, keys: list[bytes], timeout: float) -> Answer:
    """One signed POST, never following a redirect (3xx is a failure, as the spec says)."""
    timestamp = int(time.time())
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "invoicing-webhooks",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(keys, webhook_id, timestamp, body),
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(RESPONSE_READ)
            status = response.status
    except urllib.error.HTTPError as exc:
        return Answer(f"HTTP {exc.code}", _seconds(exc.headers.get("Retry-After")), exc.code == 410)
    except urllib.error.URLError as exc:
        reason = exc.reason
        return Answer(f"no answer: {first_line(reason) if isinstance(reason, BaseException) else reason}")
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, broken answers
        return Answer(f"no answer: {first_line(exc, with_type=True)}")
    return Answer(None if 200 <= status < 300 else f"HTTP {status}")


def _seconds(retry_after: str | None) -> float | None:
    """A Retry-After header's delay in seconds (a number of seconds, or an HTTP date)."""
    if not retry_after:
        return None
    if retry_after.strip().isdigit():
        return float(retry_after.strip())
    try:
        moment = email.utils.parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return None
    return max((_aware(moment) - datetime.now(UTC)).total_seconds(), 0.0)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def counts(session: Session) -> dict[str, int]:
    """Rows per state, every state named: what `status --json` shows as `webhooks`."""
    found = dict(
        session.execute(select(WebhookMessage.status, func.count()).group_by(WebhookMessage.status)).all()
    )
    return {state.value: int(found.get(state, 0)) for state in WebhookStatus}


class _Sender:
    """The deliverer of the embedded default: one thread of this process, with a heap of
    (when due, database, row). It lives as long as the process; what it has not sent
    by then waits in the outbox for the next command's sweep."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._due: list[tuple[float, str, int]] = []
        self._busy = 0
        self._thread: threading.Thread | None = None

    def submit(self, ids: list[int], database_url: str, delay: float = 0.0) -> None:
        with self._lock:
            for message_id in ids:
                heapq.heappush(self._due, (time.monotonic() + delay, database_url, message_id))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._lock.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _when, database_url, message_id = heapq.heappop(self._due)
                self._busy += 1
            delay = None
            try:
                delay = attempt(message_id, database_url)
            except Exception as exc:  # noqa: BLE001 - the claim runs out; the sweep retries
                log.warning("webhook row %d: %s", message_id, first_line(exc, with_type=True))
            finally:
                with self._lock:
                    self._busy -= 1
                    self._lock.notify_all()
            if delay is not None:
                self.submit([message_id], database_url, delay)

    @property
    def started(self) -> bool:
        return self._thread is not None

    def drain(self, timeout: float) -> None:
        """Wait, at most `timeout` seconds, until nothing is due now or being sent: an
        embedded command lets its events' first attempts finish before it exits."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._busy or (self._due and self._due[0][0] <= time.monotonic()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._lock.wait(left)


_sender = _Sender()


def drain(settings: Settings | None = None) -> None:
    """Let this process's first attempts finish (embedded), within one POST's timeout; at
    once, reading no settings, when this process has sent none."""
    if not _sender.started:
        return
    settings = settings or get_settings()
    _sender.drain(settings.webhook_timeout_s + 1)
