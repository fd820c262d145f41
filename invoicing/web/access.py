"""The access log and the request metrics, as one ASGI middleware.

uvicorn's own access log prints the request line, query string included, so a token
someone put in a URL would be written to the log; it is turned off (`invoicing serve`),
and this one logs the method, the path without its query, the status and the time.
The Authorization header is never logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from invoicing.web.metrics import Metrics, route_of

log = logging.getLogger("invoicing.web.access")


class AccessLog:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            route: Any = route_of(scope)
            self.metrics.observe(scope["method"], route, status["code"], elapsed)
            client = scope.get("client") or ("-", 0)
            log.info(
                "%s %s %s %d %.1f ms",
                client[0],
                scope["method"],
                scope["path"],
                status["code"],
                elapsed * 1000,
            )
