"""The ASGI app `invoicing serve` runs (uvicorn's factory: `invoicing.web.main:create_app`).

Its lifespan starts Celery's in-process worker when no broker is set, as every command
does for the length of its run (run/runtime.workers): here for as long as the server
runs, so a run started through the API renders in this process on the embedded default,
and on the workers with a broker.
"""

from __future__ import annotations

import contextlib
import gc
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from invoicing.config import get_settings
from invoicing.run.runtime import workers
from invoicing.web import errors
from invoicing.web.access import AccessLog
from invoicing.web.metrics import Metrics
from invoicing.web.recent import Recent
from invoicing.web.routes import api_router

HERE = Path(__file__).parent
SESSION_COOKIE = "invoicing_session"
DASHBOARD = "/dashboard"  # the paths whose pages read the session (dashboard.router's prefix)
SESSION_MAX_AGE_S = 8 * 3600  # a working day; the cookie holds the token's id, never the token


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    with workers(settings) as available:
        app.state.embedded_workers = available if settings.embedded else 0
        app.state.live_workers = available if not settings.embedded else 0
        app.state.workers_checked_at = time.monotonic()
        settle_garbage_collector()
        yield


def settle_garbage_collector() -> None:
    """Move what the server holds once it has started (the modules, the app, the ORM's
    mappings: 155,000 objects) out of the collector's reach with `gc.freeze()`.

    Python's full collections walk every tracked object: with 200 requests in flight they
    came every few hundred requests and took 360 ms each (wall time, this machine under
    load), a pause for every request waiting, and the collector cost more CPU than the
    requests did. Frozen, the ASGI app's CPU per GET /runs/{id} in waves of 200 went from
    385 to 256 us, and a full collection to 34 ms. The frozen objects are never freed:
    they live as long as the server anyway.
    """
    gc.collect()
    gc.freeze()


class DashboardSessions:
    """Starlette's SessionMiddleware on the dashboard's paths only.

    The dashboard keeps its login and CSRF token in the signed session cookie; the API
    authenticates every request by its bearer token and never reads a session. Reading
    the cookie and wrapping the answer cost each API request about 40 us of the ASGI app's
    400 (GET /runs/{id} in waves of 200, the medians of 12 rounds on this project's
    machine: 410 against 452 us), for nothing.
    """

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        self.app = app
        self.sessions = SessionMiddleware(app, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(DASHBOARD):
            await self.sessions(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app() -> FastAPI:
    from invoicing.web import dashboard

    settings = get_settings()
    app = FastAPI(
        title="invoicing",
        summary="Billing runs, invoices, credit notes and imports over HTTP",
        description=(
            "Every endpoint but /health needs `Authorization: Bearer <token>` "
            "(`invoicing token create NAME --scope read|write`). Errors are JSON: "
            '`{"error": "..."}`, with `problems` listing every bad row or field.'
        ),
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.metrics = Metrics()
    app.state.run_views = Recent()
    app.state.token_checks = Recent(ttl_s=0)
    errors.install(app)
    app.include_router(api_router)
    app.include_router(dashboard.root)
    app.include_router(dashboard.router)
    app.add_exception_handler(dashboard.LoginRequired, dashboard.login_required)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(
        DashboardSessions,
        secret_key=settings.api_session_secret or secrets.token_urlsafe(32),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S,
        same_site="strict",
        path="/",
    )
    app.add_middleware(AccessLog, metrics=app.state.metrics)
    return app
