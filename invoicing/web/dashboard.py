"""The run dashboard: server-rendered pages (Jinja2, no front-end build, no JavaScript).

Login takes a token, as the API does; the session cookie (Starlette's SessionMiddleware:
signed with itsdangerous, HttpOnly, SameSite=Strict) holds the token's id, never the
token, and every page checks that the token is still live, so a revoked token logs its
sessions out. Every form carries the session's CSRF token, compared in constant time;
SameSite=Strict already keeps other sites' forms from sending the cookie, the CSRF token
holds where a browser does not honour it. An open run's page reloads itself every few
seconds (a meta refresh) while it renders.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from invoicing.billing import BillingError
from invoicing.db import session_scope
from invoicing.errors import InvoicingError, plural
from invoicing.models import InvoiceStatus
from invoicing.run.dispatch import resume
from invoicing.run.downloads import invoice_details, invoice_pdf, run_file, run_files
from invoicing.run.report import list_runs, progress, report
from invoicing.storage import store_at, store_for
from invoicing.tokens import TokenInfo, authenticate, token_by_id
from invoicing.web.deps import SettingsDep, available_workers
from invoicing.web.errors import ApiError, as_api_error
from invoicing.web.routes.invoices import Number
from invoicing.web.routes.runs import FileName, RunId, get_export
from invoicing.web.streaming import stored_file

router = APIRouter(prefix="/dashboard", include_in_schema=False)
root = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
OPEN = ("rendering", "merging")
REFRESH_S = 3
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'self'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    pass


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def csrf_ok(request: Request, sent: Any) -> bool:
    expected = request.session.get("csrf")
    return bool(expected) and isinstance(sent, str) and hmac.compare_digest(sent, str(expected))


def viewer(request: Request) -> TokenInfo:
    token_id = request.session.get("token_id")
    token = None
    if isinstance(token_id, int):
        with session_scope() as session:
            token = token_by_id(session, token_id)
    if token is None:
        request.session.pop("token_id", None)
        raise LoginRequired
    return token


Viewer = Annotated[TokenInfo, Depends(viewer)]


def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context |= {"csrf": csrf_token(request), "flash": request.session.pop("flash", None)}
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers.update(HEADERS)
    return response


def refused(request: Request, status: int, message: str, token: TokenInfo | None = None) -> HTMLResponse:
    return page(request, "error.html", status, message=message, token=token)


async def login_required(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/dashboard/login", status_code=303)


@root.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html")


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    if not csrf_ok(request, form.get("csrf")):
        return refused(request, 403, "The form has expired or did not come from this site: log in again.")
    sent = form.get("token")
    token = None
    if isinstance(sent, str) and sent.strip():
        with session_scope() as session:
            token = authenticate(session, sent.strip())
    if token is None:
        return page(request, "login.html", 401, error="Unknown or revoked token.")
    request.session.clear()
    request.session["token_id"] = token.id
    request.session["csrf"] = secrets.token_urlsafe(32)  # a new session, a new CSRF token
    return RedirectResponse("/dashboard", status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form()
    if not csrf_ok(request, form.get("csrf")):
        return refused(request, 403, "The form has expired or did not come from this site.")
    request.session.clear()
    return RedirectResponse("/dashboard/login", status_code=303)


def _progress(run: dict[str, Any]) -> dict[str, Any]:
    """Done (rendered or failed) over all, for the bar; the recorded figures once final."""
    if run["status"] not in OPEN:
        return {"done": run["invoices"], "total": run["invoices"], "failed": run["failed"]}
    _, counts, total = progress(run["run_id"])
    done = counts[InvoiceStatus.RENDERED] + counts[InvoiceStatus.FAILED]
    return {"done": done, "total": total, "failed": counts[InvoiceStatus.FAILED]}


@router.get("")
def runs_page(request: Request, token: Viewer) -> HTMLResponse:
    runs = [run | {"progress": _progress(run)} for run in list_runs(50)]
    refresh = REFRESH_S if any(run["status"] in OPEN for run in runs) else None
    return page(request, "runs.html", token=token, runs=runs, refresh=refresh)


@router.get("/runs/{run_id}")
def run_page(request: Request, token: Viewer, run_id: RunId) -> HTMLResponse:
    try:
        run = report(run_id).status_dict()
    except BillingError:
        return refused(request, 404, f"There is no billing run {run_id}.", token)
    run["progress"] = _progress(run)
    refresh = REFRESH_S if run["status"] in OPEN else None
    return page(request, "run.html", token=token, run=run, files=run_files(run_id), refresh=refresh)


@router.post("/runs/{run_id}/retry")
async def retry(request: Request, token: Viewer, settings: SettingsDep, run_id: RunId) -> Response:
    form = await request.form()
    if not csrf_ok(request, form.get("csrf")):
        return refused(
            request, 403, "The form has expired or did not come from this site: reload the page.", token
        )
    if not token.can_write:
        return refused(
            request, 403, f"Token {token.name!r} may only read; a retry needs a write token.", token
        )
    try:
        store_for(settings).check()
        request.app.state.run_views.forget(run_id)
        started = resume(
            run_id, workers=available_workers(request, settings), settings=settings, busy_is_error=True
        )
        request.session["flash"] = {
            "resumed": f"Retrying: {plural(started.dispatched, 'invoice')} to render again.",
            "merging": "Every invoice is rendered; merging again.",
            "complete": "Nothing to retry: the run is complete.",
        }.get(started.action, f"Retry: {started.action}.")
    except (ApiError, InvoicingError) as exc:
        request.session["flash"] = as_api_error(exc).message
    return RedirectResponse(f"/dashboard/runs/{run_id}", status_code=303)


@router.get("/runs/{run_id}/files/{name}", response_class=Response)
def run_file_download(request: Request, token: Viewer, run_id: RunId, name: FileName) -> Response:
    found = run_file(run_id, name) if _run_exists(run_id) else None
    if found is None:
        return refused(request, 404, f"Billing run {run_id} has no file {name!r}.", token)
    return stored_file(
        request, store_at(found.location), found.location, found.sha256, found.media_type, name
    )


@router.get("/runs/{run_id}/export.zip", response_class=Response)
def export_download(request: Request, token: Viewer, settings: SettingsDep, run_id: RunId) -> Response:
    if not _run_exists(run_id):
        return refused(request, 404, f"There is no billing run {run_id}.", token)
    try:
        return get_export(token, settings, run_id)
    except (ApiError, InvoicingError) as exc:
        return refused(request, as_api_error(exc).status, as_api_error(exc).message, token)


@router.get("/invoices/{number}.pdf", response_class=Response)
def invoice_file(request: Request, token: Viewer, number: Number) -> Response:
    try:
        pdf = invoice_pdf(number, "dashboard download")
    except BillingError:
        return refused(request, 404, f"There is no invoice {number}.", token)
    except InvoicingError as exc:
        return refused(request, as_api_error(exc).status, str(exc), token)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{number}.pdf"', "Cache-Control": "no-store"},
    )


@router.get("/invoices/{number}")
def invoice_page(request: Request, token: Viewer, number: Number) -> HTMLResponse:
    try:
        invoice = invoice_details(number)
    except BillingError:
        return refused(request, 404, f"There is no invoice {number}.", token)
    return page(request, "invoice.html", token=token, invoice=invoice)


def _run_exists(run_id: int) -> bool:
    try:
        progress(run_id)
    except BillingError:
        return False
    return True
