"""Billing runs: list, one run (what `invoicing status --json` prints), start one, retry
one, and its files: the merged file, its volumes and manifests, and the export ZIP."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from invoicing.billing import BillingError, Period
from invoicing.run.dispatch import preview, resume, start_or_resume
from invoicing.run.downloads import run_file
from invoicing.run.export import export_run
from invoicing.run.outputs import output_folder_problem
from invoicing.run.report import list_runs, report, run_summary
from invoicing.storage import store_at, store_for
from invoicing.web.deps import ReadToken, SettingsDep, WorkersDep, WriteToken, available_workers
from invoicing.web.errors import ApiError
from invoicing.web.idempotency import Answer, answered_once, fingerprint
from invoicing.web.streaming import stored_file

router = APIRouter(prefix="/runs", tags=["runs"])

RunId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A billing run's id.")]
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", description="Send the same request again safely.")
]
FileName = Annotated[str, Path(min_length=1, max_length=255)]


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str | None = Field(
        default=None, description="YYYY-MM; default the previous month.", examples=["2026-10"]
    )
    dry_run: bool = Field(default=False, description="Say what would be issued; write nothing.")
    force_period: bool = Field(
        default=False, description="Bill a month not ended yet or more than 24 months back."
    )


def _existing(run_id: int) -> None:
    try:
        run_summary(run_id)
    except BillingError:
        raise ApiError(404, f"no billing run {run_id}") from None


def _started(request: Request, started: Any) -> Answer:
    request.app.state.run_views.forget(started.run_id)
    body = report(started.run_id).status_dict() | {
        "action": started.action,
        "dispatched": started.dispatched,
    }
    return (200 if started.action == "complete" else 202), body


@router.get("")
def get_runs(
    token: ReadToken, limit: Annotated[int, Query(ge=1, le=10_000)] = 20
) -> dict[str, list[dict[str, Any]]]:
    """The newest runs first, as `invoicing runs --json` lists them."""
    return {"runs": list_runs(limit)}


def run_view(run_id: int) -> bytes:
    """GET /runs/{id}'s body: `status --json`'s object, as JSON."""
    try:
        return json.dumps(report(run_id).status_dict(), ensure_ascii=False).encode()
    except BillingError:
        raise ApiError(404, f"no billing run {run_id}") from None


@router.get("/{run_id}", response_class=Response, responses={200: {"content": {"application/json": {}}}})
async def get_run(request: Request, token: ReadToken, run_id: RunId) -> Response:
    """One run, as `invoicing status RUN_ID --json` prints it, at most 250 ms old: the
    answer is computed once and shared by every request for the run in that time."""
    body = await request.app.state.run_views.get(run_id, lambda: run_view(run_id))
    return Response(body, media_type="application/json")


@router.post("", status_code=202, responses={200: {"description": "a dry run, or a run already complete"}})
def post_run(
    request: Request,
    token: WriteToken,
    settings: SettingsDep,
    body: RunRequest,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Issue the period's run and dispatch it, as `invoicing run --no-wait` does (or its
    supplement, or resume it); 202 with the run as `GET /runs/{id}` shows it."""
    try:
        period = Period.parse(body.period) if body.period else Period.previous()
    except BillingError as exc:
        raise ApiError(422, str(exc)) from None

    def answer() -> Answer:
        if body.dry_run:
            return 200, preview(period, settings).as_dict()
        refusal = None if body.force_period else period.billing_refusal()
        if refusal:
            raise ApiError(422, f"{refusal}; nothing was issued; to bill it anyway send force_period: true")
        store_for(settings).check()
        problem = output_folder_problem(settings, str(period))
        if problem is not None:
            raise ApiError(500, f"{problem}; nothing was issued")
        workers = available_workers(request, settings)
        return _started(request, start_or_resume(period, workers=workers, settings=settings))

    what = fingerprint("POST", "/runs", body.model_dump())
    return answered_once(token, idempotency_key, what, answer)


@router.post("/{run_id}/retry", status_code=202)
def retry_run(
    request: Request,
    token: WriteToken,
    settings: SettingsDep,
    workers: WorkersDep,
    run_id: RunId,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Render the run's failed or missing invoices again and merge, as `invoicing retry`;
    409 while the run is still being worked on."""
    _existing(run_id)

    def answer() -> Answer:
        store_for(settings).check()
        return _started(request, resume(run_id, workers=workers, settings=settings, busy_is_error=True))

    return answered_once(token, idempotency_key, fingerprint("POST", f"/runs/{run_id}/retry", None), answer)


@router.get("/{run_id}/files/{name}", response_class=Response)
def get_run_file(request: Request, token: ReadToken, run_id: RunId, name: FileName) -> Response:
    """The merged file, a volume or a manifest: ETag (its sha256), Range, If-None-Match."""
    _existing(run_id)
    found = run_file(run_id, name)
    if found is None:
        raise ApiError(404, f"billing run {run_id} has no file {name!r}; GET /runs/{run_id} lists them")
    return stored_file(
        request, store_at(found.location), found.location, found.sha256, found.media_type, name
    )


@router.get("/{run_id}/export.zip", response_class=FileResponse)
def get_export(token: ReadToken, settings: SettingsDep, run_id: RunId) -> FileResponse:
    """The run's invoices and index.csv, as `invoicing export RUN_ID` writes them."""
    _existing(run_id)
    folder = FilePath(tempfile.mkdtemp(prefix="invoicing-export-"))
    try:
        target = folder / f"run-{run_id}.zip"
        export_run(run_id, target, False, settings)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        target,
        media_type="application/zip",
        filename=target.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
