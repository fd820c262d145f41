"""What a route needs from the request, as `Annotated` dependencies: the settings, the
token it was sent with (any live one, or one that may write), and the worker count.

The token comes in `Authorization: Bearer <token>` only. One in the URL's query is
refused outright (400): URLs end up in proxies' and browsers' histories and logs, so the
reason says to revoke it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from invoicing.config import Settings, get_settings
from invoicing.tokens import PREFIX, TokenInfo, digest, live_token
from invoicing.web.errors import ApiError

# Query parameters a client might put a token in.
TOKEN_PARAMETERS = {"token", "access_token", "api_key", "apikey", "key", "bearer", "auth", "authorization"}
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="invoicing"'}


def settings() -> Settings:
    return get_settings()


def refuse_token_in_url(request: Request) -> None:
    for name, value in request.query_params.multi_items():
        if name.lower() in TOKEN_PARAMETERS or value.startswith(PREFIX):
            raise ApiError(
                400,
                f"a token in the URL (?{name}=...) is refused: send it as `Authorization: Bearer <token>`; "
                "a token that was in a URL may be in logs: revoke it (`invoicing token revoke NAME`)",
            )


async def bearer_token(request: Request) -> TokenInfo:
    """The live token the request was sent with, looked up by its hash on every request.

    Requests with the same token that arrive while its lookup runs share that lookup
    (single flight, nothing kept after it): 200 dashboards asking at once cost a few
    lookups instead of 200 (py-spy: the lookups were 0.1 % of the server's samples
    with 200 clients in waves, 8 % with 50 back to back when each made its own). The lookups of one
    token follow one another, so a request sent after `invoicing token revoke` returned
    is refused, or, if it joined a lookup begun before the revocation, its client's next
    one is (tests/test_api_polling.py). An `async` dependency, so a request that joins a
    lookup does not cross to a thread; the lookup itself is tokens.live_token.
    """
    refuse_token_in_url(request)
    header = request.headers.get("authorization")
    if not header:
        raise ApiError(401, "missing `Authorization: Bearer <token>`", headers=CHALLENGE)
    scheme, _, value = header.partition(" ")
    sent = value.strip()
    if scheme.lower() != "bearer" or not sent:
        raise ApiError(401, "the Authorization header must be `Bearer <token>`", headers=CHALLENGE)
    token = await request.app.state.token_checks.get(digest(sent), lambda: live_token(sent))
    if token is None:
        raise ApiError(401, "unknown or revoked token", headers=CHALLENGE)
    request.state.token_name = token.name
    return token


async def writing_token(token: Annotated[TokenInfo, Depends(bearer_token)]) -> TokenInfo:
    if not token.can_write:
        raise ApiError(403, f"token {token.name!r} may only read; this needs a write token")
    return token


SettingsDep = Annotated[Settings, Depends(settings)]
ReadToken = Annotated[TokenInfo, Depends(bearer_token)]
WriteToken = Annotated[TokenInfo, Depends(writing_token)]


def available_workers(request: Request, settings: SettingsDep) -> int:
    """How many worker processes render what a request sends: the embedded worker's
    threads, or the workers answering on the broker (asked at most every few seconds:
    the broker's `inspect` waits out its timeout). None answering: 503, nothing sent."""
    import time

    from invoicing.run.runtime import live_workers, no_worker

    state = request.app.state
    if settings.embedded:
        return int(state.embedded_workers)
    now = time.monotonic()
    if now - state.workers_checked_at > WORKERS_CHECKED_EVERY_S or not state.live_workers:
        state.live_workers, state.workers_checked_at = live_workers(), now
    if not state.live_workers:
        raise ApiError(503, no_worker(settings, "nothing was sent; ", "this server"))
    return int(state.live_workers)


WORKERS_CHECKED_EVERY_S = 10.0
WorkersDep = Annotated[int, Depends(available_workers)]
