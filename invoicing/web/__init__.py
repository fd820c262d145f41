"""`invoicing serve`: the HTTP API, the run dashboard and the Prometheus metrics, an ASGI
app on FastAPI and uvicorn over the same functions the CLI calls (billing, run).

- main: the app, its lifespan (the embedded worker when no broker is set), middleware
- deps: the request's token and settings as `Annotated` dependencies
- errors: the one place library errors become HTTP statuses and JSON reasons
- idempotency: POSTs sent with an `Idempotency-Key` header, answered once
- streaming: a stored file with ETag, Range and If-None-Match
- metrics: /metrics in the Prometheus text format, read from the database at scrape time
- access: the access log (paths without query strings: tokens never reach a log)
- routes/: one router per resource;  dashboard: the server-rendered pages (Jinja2)
"""
