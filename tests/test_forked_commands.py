"""The suite's commands run forked from a process that has imported the package
(`tests/support/forked.py`). Each must be what the installed script gives: its own
working directory, environment, streams and exit code; and neither a command past its
timeout nor one interrupted while the server answers may leave anything for the next."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.support import forked
from tests.support.envs import Env
from tests.support.workers import free_port


def script(env: Env, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return forked.run_script(list(args), env.path, env.environ(**extra), timeout=120)


def outcome(proc: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (("run", "--help"), {}),
        (("run", "--period", "2026-13"), {}),  # a usage error: click's exit code 2
        (("status",), {}),  # no database yet: the one-line error, exit code 1
        (("status",), {"INVOICING_MAX_LINES": "many"}),  # settings it cannot read
    ],
)
def test_a_forked_command_gives_exactly_what_its_script_gives(
    env: Env, args: tuple[str, ...], extra: dict[str, str]
) -> None:
    forked_run = env.cli(*args, **extra)
    assert forked._server is not None and forked._server.serves(env.environ(**extra))
    assert outcome(forked_run) == outcome(script(env, *args, **extra))
    assert forked_run.stdout or forked_run.stderr


def test_a_forked_command_sees_only_its_own_settings(env: Env) -> None:
    refused = env.cli("status", INVOICING_MAX_LINES="many")
    assert refused.returncode == 2 and "INVOICING_MAX_LINES" in refused.stderr
    # The next commands have the test's settings, not the last one's.
    env.cli("db", "init", check=True)
    assert "no billing runs yet" in env.cli("status").stderr  # the database just made
    assert (env.path / "invoicing.db").is_file()  # in the test's directory, not the server's


def test_a_command_past_its_timeout_is_killed_and_the_next_one_reads_its_own_answers(env: Env) -> None:
    env.cli("db", "init", check=True)
    port = free_port()
    with pytest.raises(subprocess.TimeoutExpired):
        env.cli("serve", "--port", str(port), timeout=3)  # serves until killed
    with pytest.raises(ConnectionRefusedError):  # killed, not left serving
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    server = forked._server
    after = env.cli("run", "--help")
    assert forked._server is server  # the same server, ready for the next command
    assert outcome(after) == outcome(script(env, "run", "--help"))


def test_a_server_interrupted_between_a_request_and_its_answers_is_replaced(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.cli("--help", check=True)
    interrupted = forked._server
    assert interrupted is not None
    answer = forked.Server._answer

    def stopped_after_the_start(self: forked.Server, timeout: float | None) -> dict[str, int] | None:
        started = answer(self, timeout)
        if started is not None and "pid" in started:
            raise KeyboardInterrupt  # as pytest's timeout or Ctrl-C would, mid-command
        return started

    monkeypatch.setattr(forked.Server, "_answer", stopped_after_the_start)
    with pytest.raises(KeyboardInterrupt):
        env.cli("run", "--help")
    monkeypatch.setattr(forked.Server, "_answer", answer)
    assert forked._server is None and interrupted.proc.poll() is not None
    # A new server: the interrupted command's exit code is never read as this one's.
    bad_period = ("run", "--period", "2026-13")
    assert outcome(env.cli(*bad_period)) == outcome(script(env, *bad_period))
    assert forked._server is not None and forked._server is not interrupted
