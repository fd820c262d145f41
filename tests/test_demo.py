"""The power/amass smoke-test chord, embedded and on real Redis with real workers,
and the fail-fast paths a user meets before anything is sent."""

from __future__ import annotations

from tests.support.envs import Env
from tests.support.workers import Workers


def test_demo_embedded_prints_285(env: Env) -> None:
    proc = env.cli("demo")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "285"


def test_demo_embedded_count(env: Env) -> None:
    proc = env.cli("demo", "--count", "20")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(sum(i * i for i in range(20)))


def test_demo_embedded_failed_header_task_means_no_body(env: Env) -> None:
    proc = env.cli("demo", "--fail-at", "7")
    assert proc.returncode == 1
    assert "power(7, 2) failed on purpose" in proc.stderr
    assert "the chord body (amass) never ran" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_demo_on_redis_with_real_workers(workers: Workers) -> None:
    # given two worker processes of two pool processes each
    workers.env.invoke("db", "init")  # a worker refuses a database without the schema
    workers.start(count=2, concurrency=2)
    # when
    ok = workers.env.cli("demo", "--delay")
    failed = workers.env.cli("demo", "--fail-at", "3")
    # then: the sum, computed across the worker processes
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "285"
    assert failed.returncode == 1
    assert "power(3, 2) failed on purpose" in failed.stderr
    assert "never ran" in failed.stderr and "Traceback" not in failed.stderr
    log = workers.log_text()
    assert log.count("invoicing.power[") >= 20 and "invoicing.amass[" in log


def test_demo_on_redis_without_workers_says_so(redis_env: Env) -> None:
    proc = redis_env.cli("demo")
    assert proc.returncode == 1
    assert "no worker answered" in proc.stderr and "celery -A invoicing worker" in proc.stderr


def test_broker_without_result_backend_is_refused_before_sending(env: Env) -> None:
    result = env.invoke("demo", INVOICING_BROKER_URL="amqp://guest:s3cret@127.0.0.1:5672//")
    assert result.exit_code == 2
    assert "chords need a result backend" in result.stderr
    assert "INVOICING_RESULT_BACKEND" in result.stderr
    assert "NotImplementedError" not in result.output and "Traceback" not in result.output
    assert "s3cret" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


# Only stops a hang: Celery's own connection retries (up to 100, backing off to 30 s)
# would outlast it, where the preflight gives up after one attempt.
HANG_S = 120


def test_unreachable_redis_is_refused_by_the_preflight(env: Env) -> None:
    # when
    proc = env.cli("demo", timeout=HANG_S, INVOICING_BROKER_URL="redis://:hunter2@127.0.0.1:1/0")
    # then the preflight's one line and nothing else: no chord sent, no retry logged
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot reach the broker redis://:***@127.0.0.1:1/0" in proc.stderr
    assert "hunter2" not in proc.stderr + proc.stdout and proc.stdout == ""


def test_unreachable_database_is_refused_by_the_preflight(env: Env) -> None:
    # when
    proc = env.cli(
        "run",
        "--period",
        "2026-10",
        timeout=HANG_S,
        INVOICING_DATABASE_URL="postgresql+psycopg://billing:hunter2@127.0.0.1:1/x",
    )
    # then the preflight's one line and nothing else: no run made, no retry logged
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "cannot reach the database postgresql+psycopg://billing:***@127.0.0.1:1/x" in proc.stderr
    assert "hunter2" not in proc.stderr + proc.stdout and proc.stdout == ""


def test_bad_setting_is_one_line(env: Env) -> None:
    result = env.invoke("status", INVOICING_BATCH_SIZE="lots")
    assert result.exit_code == 2
    assert result.stderr.startswith("invoicing: error: INVOICING_BATCH_SIZE:")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_failed_demo_on_redis_exits_without_a_traceback(workers: Workers) -> None:
    """get() gives up at the first failed header task; the body and the other members
    were left subscribed on Redis, for AsyncResult.__del__ to drop at interpreter exit."""
    # given
    workers.env.invoke("db", "init")  # a worker refuses a database without the schema
    workers.start(count=1, concurrency=2)
    # when
    runs = [workers.env.cli("demo", "--fail-at", "7") for _ in range(3)]
    # then
    for proc in runs:
        assert proc.returncode == 1
        assert "power(7, 2) failed on purpose" in proc.stderr and "never ran" in proc.stderr
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr


def test_demo_leaves_no_result_subscriptions_behind(workers: Workers) -> None:
    from invoicing.celery import app
    from invoicing.demo import demo

    # given
    workers.env.invoke("db", "init")  # a worker refuses a database without the schema
    workers.start(count=1, concurrency=2)
    consumer = app.backend.result_consumer
    # when, in this process, the chord fails
    failed = demo(10, 7, delay=False, timeout=60)
    # then nothing is left for AsyncResult.__del__ to unsubscribe at exit
    assert failed.total is None
    assert consumer.subscribed_to == set()
    # and when it succeeds
    assert demo(10, None, delay=False, timeout=60).total == 285
    assert consumer.subscribed_to == set()
