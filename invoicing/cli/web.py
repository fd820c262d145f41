"""`invoicing serve` (the HTTP API, the dashboard, /metrics) and `invoicing token` (the
API's bearer tokens).

The server is started by uvicorn from the app factory's import string, so the CLI never
imports invoicing.web: web and cli are peers over billing and run.
"""

from __future__ import annotations

import json

import click
from rich.table import Table

from invoicing.cli.common import WholeNumber, err, handle_errors, main, out, ready


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=WholeNumber(1, 65535), default=8080, show_default=True, help="Port to listen on."
)
@handle_errors
def serve(host: str, port: int) -> None:
    """Serve the HTTP API, the run dashboard (/dashboard) and /metrics.

    On the same settings and database as every command. With no broker set, runs
    started through the API render in this process (as `invoicing run` does); with
    one, on the workers. The OpenAPI document is at /openapi.json, its pages at /docs.
    Every endpoint but /health needs a token: `invoicing token create NAME --scope read`.

    Example: invoicing serve --port 8080
    """
    import logging

    import uvicorn

    from invoicing.cli.common import OneLineFormatter

    ready()
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    for name in ("invoicing.web", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    err.print(f"serving on http://{host}:{port} (dashboard: /dashboard, API: /docs)", markup=False)
    # uvicorn's access log prints query strings, where a careless client puts a token;
    # invoicing.web.access logs paths only.
    uvicorn.run(
        "invoicing.web.main:create_app",
        factory=True,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
    )


@main.group()
def token() -> None:
    """Bearer tokens of the HTTP API."""


@token.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice(["read", "write"]), required=True, help="read: GETs; write: all.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@handle_errors
def token_create(name: str, scope: str, as_json: bool) -> None:
    """Make a token and print it, once: only its hash is kept.

    Example: invoicing token create erp --scope write
    """
    from invoicing.db import session_scope
    from invoicing.tokens import create_token

    ready()
    with session_scope() as session:
        info, secret = create_token(session, name, scope)
    if as_json:
        out.print(json.dumps(info.as_dict() | {"token": secret}), markup=False)
        return
    out.print(secret, markup=False)
    err.print(
        f"token {info.name!r} ({info.scope.value}): shown this once; keep it in a secret store", markup=False
    )


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list on stdout.")
@handle_errors
def token_list(as_json: bool) -> None:
    """List the tokens: name, scope, when made and revoked (never the tokens).

    Example: invoicing token list
    """
    from invoicing.db import session_scope
    from invoicing.tokens import list_tokens

    ready()
    with session_scope() as session:
        tokens = list_tokens(session)
    if as_json:
        out.print(json.dumps([t.as_dict() for t in tokens]), markup=False)
        return
    table = Table(box=None, pad_edge=False)
    for column in ("name", "scope", "created (UTC)", "revoked (UTC)"):
        table.add_column(column)
    for t in tokens:
        table.add_row(
            t.name,
            t.scope.value,
            t.created_at[:16].replace("T", " "),
            (t.revoked_at or "-")[:16].replace("T", " "),
        )
    out.print(table)


@token.command("revoke")
@click.argument("name")
@handle_errors
def token_revoke(name: str) -> None:
    """Refuse a token from now on (401), and log out its dashboard sessions.

    Example: invoicing token revoke erp
    """
    from invoicing.db import session_scope
    from invoicing.tokens import revoke_token

    ready()
    with session_scope() as session:
        info = revoke_token(session, name)
    err.print(f"token {info.name!r} is revoked (since {info.revoked_at})", markup=False)
