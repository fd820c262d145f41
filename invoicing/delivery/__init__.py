"""Delivery: each invoice to its subscriber and each event to whoever waits for it, a
stage after the run's merge.

`state` (each invoice's e-mail state, every change in one function), `smtp` (the server
of INVOICING_SMTP_URL), `message` and `texts` (the e-mail in the subscriber's language),
`send` (a batch in one SMTP session), `ratelimit` (INVOICING_MAIL_RATE through Redis),
`dispatch` and `tasks` (a run's delivery as Celery tasks), `bounces` (RFC 3464 delivery
status notifications), `undelivered` (the print file of what did not arrive);
`webhooks` and `signing` (signed events from a transactional outbox).

A delivery never changes an invoice's bytes: it reads the stored file, checks its
sha256, and attaches it.
"""
