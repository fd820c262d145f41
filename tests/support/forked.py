"""The `invoicing` command run in a process of its own, forked from one that has already
imported the package: what `Env.cli` runs.

Why: the suite runs about 800 commands, and each fresh interpreter spent most of its CPU
importing (SQLAlchemy, pydantic, Celery, reportlab, pypdf and the package itself: 0.75 s
of the 1.07 s an `invoicing status` took, profiled; counted with process accounting, the
commands were 1,139 of the suite's 1,842 CPU seconds). A forked child still is a process
of its own: its own working directory, environment, standard streams, exit code and
atexit handlers; only the imports are shared. Nothing else ran in the parent (no engine,
no logging set up, no thread), and the one thing importing does with the settings (the
Celery app configured from them) is done again in the child with the command's own.

What depends on how the interpreter starts (the PYTHON* variables, the locale's) is not
shared: a command given other values of those runs from its script, as does one started
while this test's server is busy with another (a test's own threads). Tests about the
start-up itself (`test_startup`) start interpreters of their own.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from tests.support.paths import BIN

# Run by the server: import, then fork a child per request (one JSON line on stdin) and
# answer with its pid and, once it has exited, its exit code. The child returns from
# serve() and becomes the command: streams on the files named, argv, cwd and environment
# as asked; SystemExit from main() ends it as it ends the script.
SERVER = r"""
import importlib, io, json, os, pkgutil, sys

import invoicing

SKIP = ("invoicing.bench", "invoicing.web", "invoicing.migrations", "invoicing.synthetic")
for info in pkgutil.walk_packages(invoicing.__path__, "invoicing."):
    if not info.name.startswith(SKIP):
        importlib.import_module(info.name)


def serve():
    answers = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            return request
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
        answers.flush()
    raise SystemExit(0)


request = serve()
os.chdir(request["cwd"])
os.environ.clear()
os.environ.update(request["env"])
for fd, path, flags in (
    (0, os.devnull, os.O_RDONLY),
    (1, request["stdout"], os.O_WRONLY | os.O_TRUNC),
    (2, request["stderr"], os.O_WRONLY | os.O_TRUNC),
):
    opened = os.open(path, flags)
    os.dup2(opened, fd)
    os.close(opened)
unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
encoding, errors = sys.stdout.encoding, sys.stdout.errors


def stream(fd, errors, **options):
    raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
    buffered = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
    return io.TextIOWrapper(buffered, encoding=encoding, errors=errors, **options)


sys.stdin = sys.__stdin__ = stream(0, errors)
sys.stdout = sys.__stdout__ = stream(1, errors, write_through=unbuffered)
sys.stderr = sys.__stderr__ = stream(2, "backslashreplace", line_buffering=True, write_through=unbuffered)
sys.argv = request["argv"]
from invoicing.celery import configure
from invoicing.cli import main
from invoicing.config import get_settings

# What importing invoicing.celery does (it applies the settings to the app), redone with
# this command's. Settings it cannot read are left to main(), which says so in one line.
get_settings.cache_clear()
try:
    configure()
except Exception:
    get_settings.cache_clear()

main(prog_name="invoicing")
"""

# What the interpreter reads as it starts: a command given other values runs from its script.
_AT_START = ("PYTHON", "LANG", "LC_")


class Server:
    """One per test process, started at its first command."""

    def __init__(self, base: Mapping[str, str]) -> None:
        self.base = dict(base)
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER],
            cwd=tempfile.gettempdir(),  # no .env read as the package is imported
            env=self.base,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.requests, self.answers = self.proc.stdin, self.proc.stdout
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.answers, selectors.EVENT_READ)
        atexit.register(self.stop)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def serves(self, env: Mapping[str, str]) -> bool:
        """Whether a command with this environment starts as the server did."""
        return self.proc.poll() is None and all(
            env.get(key) == self.base.get(key)
            for key in {*env, *self.base}
            if key.startswith(_AT_START) and key != "PYTHONUNBUFFERED"
        )

    def _answer(self, timeout: float | None) -> dict[str, int] | None:
        if not self.selector.select(timeout):
            return None
        line = self.answers.readline()
        if not line:
            raise RuntimeError(f"the command server exited ({self.proc.wait()})")
        answer: dict[str, int] = json.loads(line)
        return answer

    def run(
        self, args: list[str], cwd: Path, env: Mapping[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(BIN / "invoicing"), *args]
        with tempfile.TemporaryDirectory(prefix="invoicing-cli-") as streams:
            out, err = Path(streams, "stdout"), Path(streams, "stderr")
            out.touch()
            err.touch()
            streams_at = {"stdout": str(out), "stderr": str(err)}
            request = {"argv": argv, "cwd": str(cwd), "env": dict(env)} | streams_at
            self.requests.write(json.dumps(request) + "\n")
            self.requests.flush()
            started = self._answer(None)
            assert started is not None
            ended = self._answer(timeout)
            if ended is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(started["pid"], signal.SIGKILL)
                self._answer(None)
                raise subprocess.TimeoutExpired(argv, timeout, out.read_text(), err.read_text())
            return subprocess.CompletedProcess(argv, ended["code"], out.read_text(), err.read_text())


_server: Server | None = None


def run_cli(
    args: list[str], cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`invoicing ARGS` in `cwd` with exactly `env`, its output captured as text."""
    global _server
    if _server is None:
        _server = Server({k: v for k, v in os.environ.items() if not k.startswith("INVOICING_")})
    server = _server
    if server.serves(env) and server.lock.acquire(blocking=False):
        try:
            return server.run(args, cwd, env, timeout)
        except subprocess.TimeoutExpired:
            raise  # the child killed and its end read: the server is ready for the next
        except BaseException:
            # Interrupted between a request and its answers (pytest's timeout, Ctrl-C): the
            # answers still to come would be read as the next command's. A new server.
            server.stop()
            _server = None
            raise
        finally:
            server.lock.release()
    return run_script(args, cwd, env, timeout)


def run_script(
    args: list[str], cwd: Path, env: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`invoicing ARGS` from its installed script, in a fresh interpreter."""
    return subprocess.run(
        [str(BIN / "invoicing"), *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
