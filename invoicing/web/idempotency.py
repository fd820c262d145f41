"""POSTs sent with an `Idempotency-Key` header, as the IETF HTTPAPI idempotency-key draft
and Stripe have it: the key is the token's own (two clients never share one); the first
request is recorded with a fingerprint of what it asked (method, path, canonical body)
before any work starts; the same key and request again get the recorded answer (status
and body, with `Idempotent-Replayed: true`) and start nothing; the same key with another
request is 422; while the first is still being answered, 409.

Two requests sent at the same instant race on the unique (token, key) of the record's
insert: one inserts and works, the other fails the insert and is answered 409 or,
once the first is answered, with its answer. An answer the client may want to try again
(a 5xx: no worker, the database away) is not kept: the record is dropped. Records expire
after a day (EXPIRES_AFTER).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from invoicing.db import session_scope
from invoicing.models import IdempotencyRecord
from invoicing.tokens import TokenInfo
from invoicing.web.errors import ApiError, as_api_error

EXPIRES_AFTER = timedelta(hours=24)
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the draft's sf-string allows
REPLAYED = "Idempotent-Replayed"

Answer = tuple[int, dict[str, Any]]


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def answered_once(
    token: TokenInfo, key: str | None, request_fingerprint: str, answer: Callable[[], Answer]
) -> JSONResponse:
    """`answer()` as a JSON response; with a key, at most once per token, key and request."""
    if key is None:
        status, body = answer()
        return JSONResponse(body, status_code=status)
    if not KEY.match(key):
        raise ApiError(400, "Idempotency-Key: 1 to 255 visible ASCII characters")
    now = datetime.now(UTC)
    with session_scope() as session:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.token_id == token.id,
                IdempotencyRecord.key == key,
                IdempotencyRecord.expires_at < now,
            )
        )
    try:
        with session_scope() as session:
            session.add(
                IdempotencyRecord(
                    token_id=token.id,
                    key=key,
                    fingerprint=request_fingerprint,
                    created_at=now,
                    expires_at=now + EXPIRES_AFTER,
                )
            )
    except IntegrityError:
        return _recorded(token, key, request_fingerprint)
    try:
        status, body = answer()
    except Exception as exc:
        error = as_api_error(exc)
        status, body = error.status, error.body()
    _keep(token, key, status, body)
    return JSONResponse(body, status_code=status)


def _recorded(token: TokenInfo, key: str, request_fingerprint: str) -> JSONResponse:
    with session_scope() as session:
        record = session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.token_id == token.id, IdempotencyRecord.key == key
            )
        )
        if record is None:  # dropped in between (a 5xx, or expired): the client tries again
            raise ApiError(409, f"a request with Idempotency-Key {key!r} just ended; send it again")
        if record.fingerprint != request_fingerprint:
            raise ApiError(422, f"Idempotency-Key {key!r} was used for another request; use a new key")
        if record.status_code is None or record.response is None:
            raise ApiError(409, f"the request with Idempotency-Key {key!r} is still being answered")
        return JSONResponse(
            json.loads(record.response), status_code=record.status_code, headers={REPLAYED: "true"}
        )


def _keep(token: TokenInfo, key: str, status: int, body: dict[str, Any]) -> None:
    where = (IdempotencyRecord.token_id == token.id, IdempotencyRecord.key == key)
    with session_scope() as session:
        if status >= 500:
            session.execute(delete(IdempotencyRecord).where(*where))
        else:
            session.execute(
                update(IdempotencyRecord)
                .where(*where)
                .values(status_code=status, response=json.dumps(body, ensure_ascii=False))
            )
