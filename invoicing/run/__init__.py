"""Running the billing, one concern a module; imports only point down this list
(tests/test_layout.py fails on a cycle):

- tasks: thin Celery tasks; the worker imports them (the app's include=), nothing else
- arguments: what a task accepts, checked before it does any work
- adhoc: the one-off merge of given accounts (`invoicing merge`)
- export: a run's single invoices in a ZIP with their index (`invoicing export`)
- dispatch: issue, dispatch, resume, reconcile, salvage; sends tasks by name
- steps: render a batch, merge a run: plain functions over the database and files
- report: RunSummary and the read model behind `run`, `status` and `runs`
- state: final statuses, who works on a run, the stall rule
- transient: which errors are retried, how long to wait, the base task that does it
- runtime: the embedded worker, fail-fast checks, dropping result subscriptions
- paths: where a run's files go
- schedule: the beat entries, applied by invoicing.celery
"""
