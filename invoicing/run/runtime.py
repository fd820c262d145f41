"""Where chords run: an in-process worker (no broker configured) or remote workers.

Also the fail-fast checks, so a user sees one clear line instead of a hang or Celery's
`NotImplementedError: Starting chords requires a result backend to be configured`, and
the clean-up of the result subscriptions a client is left with after it sent a chord.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from invoicing.celery import app, configure
from invoicing.config import Settings, check_readable, get_settings, redact, scrub
from invoicing.errors import InvoicingError, first_line


class BrokerError(InvoicingError):
    """The broker or result backend cannot be reached; one line, no credentials."""


def check_backends(settings: Settings | None = None) -> None:
    """Refuse before anything is sent: chords need a result backend, both must answer."""
    settings = settings or get_settings()
    settings.check_chords()
    if settings.embedded:
        return
    _ping(settings.broker_url or "", settings, "broker")
    backend = settings.effective_result_backend or ""
    if backend != settings.broker_url:
        _ping(backend, settings, "result backend")


def _ping(url: str, settings: Settings, what: str) -> None:
    check_readable(url, f"the {what} URL")
    scheme = urlsplit(url).scheme
    timeout = settings.connect_timeout_s
    if scheme in ("redis", "rediss"):
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping()
        except redis.exceptions.RedisError as exc:
            raise BrokerError(_unreachable(url, what, exc)) from None
        return
    if what == "broker":
        from kombu import Connection

        try:
            with Connection(url, connect_timeout=timeout) as connection:
                connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
        except Exception as exc:  # kombu raises transport-specific errors
            raise BrokerError(_unreachable(url, what, exc)) from None


def _unreachable(url: str, what: str, exc: BaseException) -> str:
    # The library's line may repeat the URL or the host it parsed out of it.
    return f"cannot reach the {what} {redact(url)}: {scrub(first_line(exc), url)}"


def unsubscribe(task_ids: Iterable[str]) -> None:
    """Stop listening for these tasks' results.

    Redis' result backend subscribes to the result of every task this process sends,
    and leaves those it was not asked to wait for, or stopped waiting for, to
    AsyncResult.__del__. That runs at interpreter exit, when the connection may already
    be gone and Python cannot import what reconnecting needs: "Exception ignored in
    AsyncResult.__del__" and a traceback. So drop them while the connection is up.
    """
    consumer = getattr(app.backend, "result_consumer", None)
    if consumer is not None:
        for task_id in task_ids:
            consumer.cancel_for(task_id)


def no_worker(settings: Settings, then: str, sender: str = "this command") -> str:
    """No worker answered on the broker: what that means now (`then`) and how to start one."""
    return (
        f"no worker answered on the broker {redact(settings.broker_url)}; {then}start one with "
        f"`celery -A invoicing worker -Q {settings.queue}` and the same INVOICING_* settings as "
        f"{sender}"
    )


def live_workers(timeout: float = 1.0) -> int:
    """How many worker processes answer on the broker (0 if none)."""
    try:
        stats = app.control.inspect(timeout=timeout).stats() or {}
    except Exception:
        return 0
    total = 0
    for node in stats.values():
        pool = node.get("pool", {}) if isinstance(node, dict) else {}
        total += int(pool.get("max-concurrency", 1) or 1)
    return total


@contextmanager
def workers(settings: Settings | None = None) -> Iterator[int]:
    """Make sure someone executes the chords sent inside; yields the worker count.

    Embedded: start Celery's own in-process worker (memory transport, in-memory
    results) for the duration. With a broker: check it answers and count workers.
    """
    settings = settings or get_settings()
    configure(settings)
    check_backends(settings)
    if not settings.embedded:
        yield live_workers()
        return
    from celery.contrib.testing.worker import start_worker

    from invoicing.delivery import webhooks

    concurrency = settings.embedded_concurrency
    logging.getLogger("celery").setLevel(logging.WARNING)
    # Webhook events an earlier command left unsent go out beside this one's work.
    try:
        webhooks.sweep(settings)
    except Exception as exc:  # noqa: BLE001 - an event never fails a command
        logging.getLogger(__name__).warning("webhook events not handed out: %s", first_line(exc))
    with start_worker(
        app,
        pool="solo" if concurrency == 1 else "threads",
        concurrency=concurrency,
        perform_ping_check=False,
        shutdown_timeout=120.0,
        loglevel="WARNING",
    ):
        try:
            yield concurrency
        finally:
            _wake_for_shutdown()
    # The worker has stopped, so every event of this command is handed out: let their
    # first attempts finish (at most one POST's timeout); what fails waits in the outbox.
    # (The server's lifespan ends here; every command, however it ends, drains again.)
    webhooks.drain(settings)


def _wake_for_shutdown() -> None:
    """The embedded consumer blocks up to 2 s waiting for a message before it checks
    for shutdown, and runs one more such cycle after it noticed; flag the shutdown and
    hand it two no-op messages so it stops at once."""
    from celery.worker import state

    state.should_terminate = 0
    for _ in range(2):
        app.send_task("invoicing.wake", ignore_result=True)
