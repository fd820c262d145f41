"""Running the billing: Celery tasks, dispatch and recovery, run state, output paths."""
