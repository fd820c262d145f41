"""The one place where what went wrong becomes an HTTP status and a JSON reason:
`{"error": "one line"}`, plus `problems` where there are several (an import's bad rows,
a request's bad fields). A traceback never reaches a client; a 500 names the type of
the failure, with configured URLs and their secrets scrubbed, as the CLI does."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("invoicing.web")


class ApiError(Exception):
    """An answer other than success, with its status and one line saying why."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.extra}


def as_api_error(exc: BaseException) -> ApiError:
    """A library error as the answer it gives; anything unexpected is a 500 naming its type."""
    from sqlalchemy.exc import OperationalError

    from invoicing.config import configured_urls, scrub
    from invoicing.db import describe
    from invoicing.errors import ImportProblems, InvoicingError, UsageError, first_line
    from invoicing.run.dispatch import RunBusy
    from invoicing.run.downloads import FileDamaged, NotRendered
    from invoicing.run.runtime import BrokerError
    from invoicing.storage import StorageError

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ImportProblems):
        return ApiError(422, str(exc), problems=exc.problems)
    if isinstance(exc, RunBusy | NotRendered):
        return ApiError(409, str(exc))
    if isinstance(exc, UsageError):
        return ApiError(422, str(exc))
    if isinstance(exc, BrokerError):
        return ApiError(503, str(exc))
    if isinstance(exc, FileDamaged):
        return ApiError(500, str(exc))
    if isinstance(exc, InvoicingError):
        return ApiError(500, str(exc))
    if isinstance(exc, OperationalError):
        return ApiError(503, f"database error: {describe(exc)}")
    if isinstance(exc, StorageError):
        return ApiError(503, f"storage: {exc}")
    reason = scrub(first_line(exc, with_type=True), *configured_urls())
    log.error("unexpected %s", reason)
    return ApiError(500, f"unexpected {reason}")


def install(app: FastAPI) -> None:
    """JSON errors for everything the API answers (the dashboard renders its own pages)."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        error = as_api_error(exc)
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
            problems.append(f"{where}: {str(error.get('msg', 'invalid')).removeprefix('Value error, ')}")
        return JSONResponse({"error": "invalid request", "problems": problems}, status_code=422)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        reason = {404: f"no such resource: {request.url.path}", 405: f"{request.method} is not allowed here"}
        message = reason.get(exc.status_code, str(exc.detail))
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    from sqlalchemy.exc import SQLAlchemyError

    from invoicing.errors import InvoicingError

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    # Known failures are answered where they are raised (ExceptionMiddleware); the last
    # resort (Exception) is answered too, and its traceback goes to the server's log.
    for kind in (ApiError, InvoicingError, SQLAlchemyError, OSError, Exception):
        app.add_exception_handler(kind, api_error)
