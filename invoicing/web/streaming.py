"""A stored file as an HTTP response, from the local folder or the bucket alike: its
sha256 as the strong ETag, `If-None-Match` (304), one `Range` (206, 416 outside the
file; `If-Range` honoured), streamed in 256 KiB pieces so a merged file of any size
costs no more memory than one piece.

Starlette's FileResponse does ranges for local files only and takes its ETag from the
file's mtime and size; here the ETag is the content's recorded hash, the same on every
server, and the bytes may come from S3. A store's stream is skipped forward by `seek`
where it can (a local file) and by reading otherwise (an S3 body).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from invoicing.storage import Store
from invoicing.web.errors import ApiError

PIECE = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    wanted = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in wanted or etag in wanted


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) of a one-range `Range: bytes=...`; None when none of it is in the file.
    ValueError for a header this does not serve (several ranges, other units): the whole
    file is sent then, as RFC 9110 allows."""
    match = _RANGE.match(header.strip())
    if match is None:
        raise ValueError(header)
    first, last = match.groups()
    if not first and not last:
        raise ValueError(header)
    if not first:  # the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return None
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return None
    return start, end


def _pieces(store: Store, location: str, start: int, length: int) -> Iterator[bytes]:
    handle = store.open(location)
    try:
        try:
            handle.seek(start)
        except (AttributeError, OSError, ValueError):
            skip = start
            while skip:
                skipped = handle.read(min(PIECE, skip))
                if not skipped:
                    return
                skip -= len(skipped)
        left = length
        while left:
            piece = handle.read(min(PIECE, left))
            if not piece:
                return
            left -= len(piece)
            yield piece
    finally:
        handle.close()


def stored_file(
    request: Request, store: Store, location: str, sha256: str | None, media_type: str, name: str
) -> Response:
    if sha256 is None:
        sha256 = store.sha256(location)
    size = store.size(location) if sha256 is not None else None
    if sha256 is None or size is None:
        raise ApiError(404, f"{name} is recorded but not in the output storage")
    etag = f'"{sha256}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-cache",
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if wanted and (if_range is None or if_range.strip() == etag):
        try:
            span = byte_range(wanted, size)
        except ValueError:
            span = (0, size - 1) if size else None
            wanted = None
        if wanted is not None:
            if span is None:
                return Response(status_code=416, headers={"Content-Range": f"bytes */{size}", "ETag": etag})
            first, last = span
            length = last - first + 1
            headers |= {"Content-Range": f"bytes {first}-{last}/{size}", "Content-Length": str(length)}
            return StreamingResponse(
                _pieces(store, location, first, length),
                status_code=206,
                media_type=media_type,
                headers=headers,
            )
    headers["Content-Length"] = str(size)
    return StreamingResponse(_pieces(store, location, 0, size), media_type=media_type, headers=headers)
