"""POST /imports: a JSON or CSV file in the request body, imported as `invoicing import`
does it (an upsert, all or nothing). A bad file is 422 with every bad row and its reason.

The body is streamed to a temp file and counted as it comes: a Content-Length above
INVOICING_API_MAX_UPLOAD_MB is refused (413) before a byte is read, and a body without
one is cut off at the limit, so an enormous upload costs neither memory nor disk.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from invoicing.billing.importer import import_files
from invoicing.db import session_scope
from invoicing.web.deps import SettingsDep, WriteToken
from invoicing.web.errors import ApiError

router = APIRouter(prefix="/imports", tags=["imports"])

SUFFIXES = {"application/json": ".json", "text/csv": ".csv"}


def _suffix(content_type: str | None) -> str:
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in SUFFIXES:
        raise ApiError(415, f"Content-Type {media or '(none)'}: send application/json or text/csv")
    return SUFFIXES[media]


def _import(path: Path) -> dict[str, Any]:
    with session_scope() as session:
        return import_files(session, [path]).as_dict()


@router.post(
    "",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def post_import(request: Request, token: WriteToken, settings: SettingsDep) -> dict[str, Any]:
    """Import plans, subscribers and charges; what was created, updated, left alone."""
    suffix = _suffix(request.headers.get("content-type"))
    limit = settings.api_max_upload_mb * 2**20
    too_large = ApiError(
        413, f"the upload is larger than INVOICING_API_MAX_UPLOAD_MB ({settings.api_max_upload_mb} MiB)"
    )
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        if not declared.isdigit():
            raise ApiError(400, "Content-Length is not a number")
        raise too_large
    with tempfile.TemporaryDirectory(prefix="invoicing-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        received = 0
        with open(path, "wb") as handle:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise too_large
                handle.write(chunk)
        if not received:
            raise ApiError(422, "the upload is empty; nothing was imported")
        return await run_in_threadpool(_import, path)
