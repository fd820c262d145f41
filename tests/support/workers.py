"""Real processes and links around the tests: `celery worker` and `celery beat` as a user
starts them, a redis-server of a test's own, and a TCP relay that can be cut.

Fault tests act on what the workers say about themselves (`inspect active`: which
pool process holds which task), never on how far a run happens to have got.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import redis

from tests.support.envs import Env
from tests.support.paths import BIN


def child_pids(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Workers:
    """Real `celery -A invoicing worker` processes, as a user would start them."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.beat: subprocess.Popen[bytes] | None = None
        self.replaced: set[int] = set()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []
        self.nodes: list[str] = []

    def start(
        self,
        count: int = 1,
        concurrency: int = 2,
        pool: str = "prefork",
        cwd: Path | None = None,
        **extra: str,
    ) -> None:
        """`cwd`: the worker's working directory (default: the test's folder)."""
        for _ in range(count):
            index = len(self.procs)
            log = self.env.path / f"worker-{index}.log"
            queue = self.env.vars.get("INVOICING_QUEUE", "invoicing")
            node = f"w{index}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
            proc = subprocess.Popen(
                [
                    str(BIN / "celery"),
                    "-A",
                    "invoicing",
                    "worker",
                    "-Q",
                    queue,
                    "--pool",
                    pool,
                    "-c",
                    str(concurrency),
                    "-n",
                    node,
                    "--loglevel",
                    os.environ.get("TEST_WORKER_LOGLEVEL", "INFO"),
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=cwd or self.env.path,
                env=self.env.environ(**extra),
                stdout=open(log, "wb"),  # noqa: SIM115 - lives as long as the worker
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.procs.append(proc)
            self.logs.append(log)
            self.nodes.append(node)
        self.wait_ready(list(zip(self.procs[-count:], self.logs[-count:], strict=True)))

    @staticmethod
    def wait_ready(started: list[tuple[subprocess.Popen[bytes], Path]], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(b"ready." in log.read_bytes() for _, log in started):
                return
            for proc, log in started:
                if proc.poll() is not None:
                    raise AssertionError(f"worker exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(
            "workers did not become ready:\n" + "\n".join(log.read_text()[-2000:] for _, log in started)
        )

    def replace_exited(self, concurrency: int = 2) -> int:
        """Start a new worker for each one that exited, as a process supervisor would
        (docker compose's `restart: unless-stopped`); returns how many."""
        exited = [p for p in self.procs if p.poll() is not None and p.pid not in self.replaced]
        self.replaced.update(p.pid for p in exited)
        if exited:
            self.start(count=len(exited), concurrency=concurrency)
        return len(exited)

    def held_batches(self, index: int = 0, count: int | None = None, timeout: float = 90) -> dict[int, str]:
        """Wait until `count` pool processes of worker `index` (default: all of them) each
        hold a render batch; returns {pool process id: task id}, as the worker reports it
        (`inspect active`: a task is active once a pool process accepted it).

        Only while nothing lets a batch finish (faults.invoice_writes_held) is a batch
        seen here still held when the test acts on it.
        """
        from invoicing.celery import app

        node, proc = self.nodes[index], self.procs[index]
        deadline = time.monotonic() + timeout
        held: dict[int, str] = {}
        while True:
            pool = set(child_pids(proc.pid))
            wanted = len(pool) if count is None else count
            reply = app.control.inspect(destination=[node], timeout=1.0).active() or {}
            held = {
                task["worker_pid"]: task["id"]
                for task in reply.get(node, [])
                if task["name"] == "invoicing.render_batch" and task.get("worker_pid") in pool
            }
            if pool and len(held) >= wanted:
                return held
            if proc.poll() is not None:
                raise AssertionError(f"worker {node} exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"worker {node}: {len(held)} of {wanted} pool processes hold a batch after {timeout} s"
                )

    def stop_consuming(self) -> None:
        """Every worker stops taking tasks from the test's queue and still answers on the
        broker: a run or chord sent now waits, as with workers that are all busy."""
        from invoicing.celery import app

        queue = self.env.vars.get("INVOICING_QUEUE", "invoicing")
        replies = app.control.cancel_consumer(queue, destination=self.nodes, reply=True, timeout=10)
        assert len(replies) == len(self.nodes), f"not every worker stopped consuming {queue}: {replies}"

    def kill_pool_processes(self, pids: list[int]) -> None:
        """SIGKILL these pool processes (and so the tasks they are running)."""
        for pid in pids:
            os.kill(pid, signal.SIGKILL)

    def kill_node(self, index: int = 0) -> None:
        """SIGKILL a whole worker: its main process and its pool, no goodbye."""
        os.killpg(self.procs[index].pid, signal.SIGKILL)
        self.procs[index].wait()

    def wait_answering(self, timeout: float = 180, concurrency: int = 2) -> None:
        """Wait until a worker answers a ping on the broker, restarting the ones that exited
        meanwhile, as a supervisor would (a worker may exit on a lost Redis connection).

        Each ping goes over a connection of its own, so a connection pooled before the broker
        restarted is never reused; the timeout only guards against a hang."""
        from invoicing.celery import app

        deadline = time.monotonic() + timeout
        last_error = "no reply"
        while time.monotonic() < deadline:
            self.replace_exited(concurrency)
            try:
                with app.connection_for_write() as connection:
                    # generous: a loaded machine can take seconds to answer; the first reply ends it
                    if app.control.ping(timeout=5.0, limit=1, connection=connection):
                        return
                last_error = "no reply"
            except Exception as exc:  # noqa: BLE001 - the broker may still be coming back
                last_error = f"{type(exc).__name__}: {exc}"
                time.sleep(0.5)
        raise AssertionError(
            f"no worker answered within {timeout} s (last: {last_error}):\n{self.log_text()[-3000:]}"
        )

    def log_text(self) -> str:
        logs = self.logs + ([self.beat_log] if self.beat is not None else [])
        return "\n".join(log.read_text(errors="replace") for log in logs)

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        """Wait until a worker (or beat) has logged `text`."""
        deadline = time.monotonic() + timeout
        while text not in self.log_text():
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the worker logs after {timeout} s")
            time.sleep(0.2)

    def start_beat(self, **extra: str) -> None:
        log = self.beat_log = self.env.path / "beat.log"
        self.beat = subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "invoicing",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.env.path / "beat-schedule"),
            ],
            cwd=self.env.path,
            env=self.env.environ(**extra),
            stdout=open(log, "wb"),  # noqa: SIM115 - lives as long as beat
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.beat is not None and self.beat.poll() is None:
            os.killpg(self.beat.pid, signal.SIGKILL)
            self.beat.wait()
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


class PrivateRedis:
    """A redis-server of this test's own on a loopback port, so it can be stopped and
    restarted without touching the shared instance on 6379.

    Its data lives in an append-only file in a folder of its own, written through on
    every command, so `stop` then `start` is an outage that loses nothing (queued and
    unacknowledged messages, results and chord counters all come back); `restart` is
    the other fault, a restart that comes back empty, like a server without persistence.
    """

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir / f"redis-{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_connect_timeout=0.5)

    def start(self) -> None:
        """Start it on its port, with whatever data its folder holds."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                # PING answers LOADING while the file is read back: wait for PONG
                if self.client().ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError("private redis-server did not start")

    def stop(self) -> None:
        """Shut it down cleanly (SHUTDOWN SAVE: everything on disk); `start` brings the
        same data back on the same port."""
        assert self.proc is not None and self.proc.poll() is None
        try:
            self.client().shutdown(save=True)
        except redis.ConnectionError:
            pass  # the server closes our connection as it exits
        self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def forget(self) -> None:
        """Delete what it wrote to disk, so that the next `start` comes back empty, like
        a server without persistence (only while it is down)."""
        assert self.proc is None or self.proc.poll() is not None
        shutil.rmtree(self.workdir)


class TcpProxy:
    """A loopback TCP relay the test can cut, to make a real server unreachable for a
    while (the server itself stays up for everyone else)."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.accepted = 0  # connections the clients opened, cut or not
        self.connections: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        self.up = False
        with self.lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
                except OSError:
                    pass
            self.connections.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()
