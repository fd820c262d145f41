"""invoicing: nightly PDF invoice batching on a Celery chord."""
