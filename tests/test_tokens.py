"""`invoicing token`: API tokens are shown once, stored as a hash, listed without
themselves, revoked by name; bad names and scopes are refused with nothing changed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.support.envs import Env
from tests.support.factories import initialized
from tests.support.server import rows_in


def ready(env: Env) -> Env:
    initialized(env)
    return env


def test_a_token_is_printed_once_and_only_its_sha256_is_stored(env: Env) -> None:
    # given
    ready(env)
    # when
    made = json.loads(env.cli("token", "create", "erp", "--scope", "write", "--json", check=True).stdout)
    # then the database file holds its hash and not the token
    database = Path(env.vars["INVOICING_DATABASE_URL"].removeprefix("sqlite:///")).read_bytes()
    digest = hashlib.sha256(made["token"].encode()).hexdigest().encode()
    assert (made["token"].encode() in database, digest in database) == (False, True)


def test_token_list_names_the_tokens_and_never_shows_them(env: Env) -> None:
    # given
    token = ready(env).cli("token", "create", "grafana", "--scope", "read", check=True).stdout.strip()
    # when
    listed = env.cli("token", "list", check=True).stdout
    # then
    assert "grafana" in listed and "read" in listed and token not in listed


def test_token_list_json_says_which_are_revoked(env: Env) -> None:
    # given
    ready(env).cli("token", "create", "old", "--scope", "read", check=True)
    env.cli("token", "create", "new", "--scope", "write", check=True)
    env.cli("token", "revoke", "old", check=True)
    # when
    listed = json.loads(env.cli("token", "list", "--json", check=True).stdout)
    # then
    assert [(t["name"], t["scope"], t["revoked_at"] is not None) for t in listed] == [
        ("new", "write", False),
        ("old", "read", True),
    ]


def test_a_name_taken_is_refused_with_exit_2(env: Env) -> None:
    # given
    ready(env).cli("token", "create", "erp", "--scope", "read", check=True)
    # when
    proc = env.cli("token", "create", "erp", "--scope", "write")
    # then
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        "invoicing: error: a token named 'erp' exists already (revoked ones keep their name): "
        "choose another name",
    )


def test_a_name_with_spaces_is_refused_and_nothing_is_stored(env: Env) -> None:
    # when
    proc = ready(env).cli("token", "create", "my token", "--scope", "read")
    # then
    assert proc.returncode == 2 and "token name 'my token'" in proc.stderr and rows_in(env, "api_tokens") == 0


def test_revoking_an_unknown_token_is_exit_2(env: Env) -> None:
    # when
    proc = ready(env).cli("token", "revoke", "nobody")
    # then
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        "invoicing: error: no token named 'nobody' (`invoicing token list` shows them)",
    )


def test_config_masks_the_session_secret(env: Env) -> None:
    # when
    shown = json.loads(env.cli("config", "--json", INVOICING_API_SESSION_SECRET="s3cr3t-value").stdout)
    # then
    assert shown["settings"]["INVOICING_API_SESSION_SECRET"] == "***"
