"""The Celery app, so `celery -A invoicing worker` and `celery -A invoicing beat` work.

Settings are chosen for long, CPU-bound tasks whose loss would mean a missing invoice:
- task_acks_late + task_reject_on_worker_lost: a message is acknowledged only after its
  task finished; a worker killed mid-task leaves it to be redelivered, not dropped.
  Every step is idempotent, so running a batch twice is harmless.
- worker_prefetch_multiplier=1: a worker holds one batch per process, so an idle
  worker is never starved while a busy one sits on a backlog.
- visibility_timeout: how long Redis keeps an unacknowledged message invisible before
  handing it to another worker; far longer than any batch takes.
- result_expires: chord results are only needed until the body runs; run state lives
  in the database, so a day is plenty.
- result_chord_join_timeout: the body's join of header results on non-Redis backends.
- JSON only: a worker never unpickles a message it received.
- broker_connection_retry off: a worker that loses Redis mid-run finishes the tasks it
  holds and exits with code 1, for its supervisor (compose's `restart: unless-stopped`,
  systemd) to start a fresh one, which waits for Redis (broker_connection_retry_on_startup)
  and takes the queue up again. Reconnecting in place is not safe with Celery 5.7 and
  kombu 5.7: stopping Redis again and again, 4 workers of 5 died of an AttributeError
  in kombu within 4 to 13 outages ("Unrecoverable error"), and a CI run saw
  one stall, alive but taking nothing. A fresh process carries none of that state.
  A worker whose every process is busy may notice the loss only once Redis is back:
  Celery's heartbeat and control replies retry their publish without a limit.

A worker checks at start that its database holds the schema at the newest migration
(`db.schema_problem`): one on another database than the CLI's says so in one line and
exits, instead of failing every task it takes with `no such table`.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

from celery import Celery
from celery.signals import celeryd_init, worker_init, worker_process_init

from invoicing.config import Settings, check_readable, get_settings
from invoicing.run.schedule import beat_entries

# Every module that defines tasks, so that `celery -A invoicing worker` registers them all.
app = Celery("invoicing", include=["invoicing.run.tasks", "invoicing.delivery.tasks", "invoicing.demo"])


def celery_config(settings: Settings) -> dict[str, Any]:
    check_readable(settings.broker_url, "INVOICING_BROKER_URL")
    check_readable(settings.result_backend, "INVOICING_RESULT_BACKEND")
    timeout = settings.connect_timeout_s
    transport: dict[str, Any] = {
        "visibility_timeout": settings.visibility_timeout_s,
        "socket_connect_timeout": timeout,
        "socket_timeout": 30,
        "retry_on_timeout": True,
        # Sweep for messages of dead workers whose visibility timeout ran out.
        "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_s // 10)),
        "unacked_restore_throttle": 1,
    }
    if settings.embedded:
        # The in-process memory transport is polled; the default 1 s poll would make
        # each hop of a chord (and the worker's shutdown) wait a second.
        transport["polling_interval"] = 0.01
    backend_transport: dict[str, Any] = {"visibility_timeout": settings.visibility_timeout_s}
    if settings.redis_prefix:
        transport["global_keyprefix"] = settings.redis_prefix
        backend_transport["global_keyprefix"] = settings.redis_prefix
    config: dict[str, Any] = {
        "broker_url": settings.broker_url or "memory://localhost/",
        "result_backend": settings.effective_result_backend,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "result_expires": 24 * 3600,
        "result_chord_join_timeout": 120.0,
        "result_extended": False,
        "broker_transport_options": transport,
        "result_backend_transport_options": backend_transport,
        "redis_socket_connect_timeout": timeout,
        "redis_socket_timeout": 30,
        "redis_retry_on_timeout": True,
        "broker_connection_timeout": timeout,
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": False,
        "worker_hijack_root_logger": False,
        "worker_max_memory_per_child": 400_000,  # KiB; a leaking child is replaced
        "task_default_queue": settings.queue,
        "timezone": settings.timezone,
        "enable_utc": True,
        # Flower and `celery events` read these; nothing in the run depends on them.
        "worker_send_task_events": not settings.embedded,
        "task_send_sent_event": not settings.embedded,
        # Periodic tasks are declared next to their domain; this only applies them.
        "beat_schedule": beat_entries(settings),
    }
    return config


def configure(settings: Settings | None = None) -> Celery:
    """(Re)apply settings to the app; the CLI, `bench` and tests call this after changing them."""
    app.conf.update(celery_config(settings or get_settings()))
    # Celery builds its connection pool, queue declarations and result backend lazily
    # from the configuration and then keeps them; drop them so that a reconfiguration
    # in the same process really talks to the new broker, queue and backend.
    app._pool = None
    app.__dict__.pop("amqp", None)
    app._backend_cache = None
    app._local = threading.local()
    return app


@celeryd_init.connect
def _refuse_a_database_without_the_schema(**_kwargs: Any) -> None:
    # Only `celery worker` sends this (the embedded worker of the CLI does not: the
    # command checked the database already). A worker on another database than the
    # CLI's would take every task and fail it; one line and a non-zero exit instead.
    import sys

    from invoicing.db import schema_problem

    try:
        problem = schema_problem(get_settings().database_url)
    except Exception as exc:  # noqa: BLE001 - a bad setting is a reason too, never a traceback
        from invoicing.errors import first_line

        problem = first_line(exc)
    if problem is not None:
        print(f"invoicing worker: {problem}", file=sys.stderr, flush=True)
        sys.exit(1)


@worker_init.connect
def _warm_before_forking(sender: Any = None, **_kwargs: Any) -> None:
    # In the worker's parent, before the pool forks: every face's base glyph set and its
    # objects, the catalogs, the locales and the invoice's fixed texts (about a second)
    # are made once and shared by the children, not once in each child it ever forks.
    # Only a head start: a worker whose seller settings cannot render still starts, and
    # its invoices fail with the reason.
    if _pool_forks(sender):
        import logging

        from invoicing.billing.documents import seller_from
        from invoicing.pdf.embed import prepare
        from invoicing.pdf.render import warm_up

        try:
            prepare()
            warm_up(seller_from(get_settings()))
        except Exception as exc:  # noqa: BLE001 - never stops a worker from starting
            logging.getLogger(__name__).warning("could not warm the renderer up: %s", exc)
    # What the parent made lives as long as the worker. Frozen, the children's garbage
    # collections never walk it (a full collection took about 0.1 s), nor write to it,
    # which would copy the pages a child shares with the parent.
    gc.collect()
    gc.freeze()


def _pool_forks(worker: Any) -> bool:
    """Whether this worker's pool forks children that would share what its parent made.
    A solo or threads pool (the CLI's embedded worker) makes each thing on first use
    instead: a 19-invoice embedded run rendered 24 sample invoices it never needed, about
    0.5 s of its 3 s of CPU."""
    from celery import concurrency
    from celery.concurrency.prefork import TaskPool

    pool = getattr(worker, "pool_cls", None)
    if pool is None:
        return True  # not told: warm, as a worker always did
    if isinstance(pool, str):
        pool = concurrency.get_implementation(pool)
    return isinstance(pool, type) and issubclass(pool, TaskPool)


@worker_process_init.connect
def _fresh_connections(**_kwargs: Any) -> None:
    # A forked pool process must not share the parent's database connections.
    from invoicing.db import dispose_engines

    dispose_engines()


# A pool process's youngest generation is collected after this many allocations, not
# Python's 700 (CPython 3.13 itself went to 2,000). A render allocates tens of thousands
# of short-lived containers that reference counting frees; collected every 700, the few
# alive at that instant (a page being laid out) were walked and promoted, and promoted
# objects bring on the full collections that walk the renderer's caches (90,000 objects
# after a batch). Measured: 1,000 invoices through the render task in one process spent
# 0.22 ms per invoice in collections at 700 and 0.08 ms at 5,000 (CPU time, loaded
# machine); 200 renders in a warmed, frozen process took 0.09 M instructions fewer per
# invoice (of 9.9 M) at 10,000 than at 700 (callgrind); a bench child ran 2 to 3 full
# collections of 30 to 70 ms per 1,000 invoices at 700, none at 10,000. Cyclic garbage
# waits a little longer.
POOL_GC_THRESHOLD = 10_000


@worker_process_init.connect
def _fewer_collections(**_kwargs: Any) -> None:
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(POOL_GC_THRESHOLD, middle, oldest)


configure()
