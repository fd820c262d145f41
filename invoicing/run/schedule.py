"""The billing run's entries for Celery beat, next to the tasks they name.

`invoicing.celery` applies them to the app's configuration. Tasks are named, not
imported, so the app's configuration does not import the tasks that import the app.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

from invoicing.config import Settings

WEBHOOK_SWEEP_S = 60.0


def crontab_from(expression: str) -> crontab:
    """INVOICING_RUN_SCHEDULE, five cron fields, as Celery's crontab."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"INVOICING_RUN_SCHEDULE needs 5 cron fields, got {expression!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        # Issue and dispatch the previous month's run.
        "nightly-billing-run": {
            "task": "invoicing.start_billing_run",
            "schedule": crontab_from(settings.run_schedule),
        },
        # Finish the runs whose chord body was lost, without a person.
        "reconcile-billing-runs": {
            "task": "invoicing.reconcile_runs",
            "schedule": settings.reconcile_every_s,
        },
        # Hand out again the webhook events whose deliverer was lost (delivery/webhooks.py).
        "sweep-webhooks": {
            "task": "invoicing.sweep_webhooks",
            "schedule": WEBHOOK_SWEEP_S,
        },
    }
