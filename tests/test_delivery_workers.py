"""Delivery on real `celery worker` processes: with INVOICING_DELIVER_AFTER_RUN the run's
merge sends `invoicing.deliver_run`, and the workers e-mail every invoice once."""

from __future__ import annotations

from tests.support.delivery import EMAIL, PERIOD, fixtures_with_channels, status_delivery, use_smtp
from tests.support.envs import Env
from tests.support.factories import initialized, write_json
from tests.support.runs import wait_until
from tests.support.smtp import SmtpServer
from tests.support.workers import Workers


def test_workers_deliver_a_run_once_it_is_merged(redis_env: Env, workers: Workers, smtp: SmtpServer) -> None:
    # given
    initialized(redis_env)
    redis_env.cli("import", write_json(redis_env, fixtures_with_channels(EMAIL)), check=True)
    use_smtp(redis_env, smtp.url())
    redis_env.vars["INVOICING_DELIVER_AFTER_RUN"] = "true"
    workers.start(count=1, concurrency=2)
    # when
    redis_env.cli("run", "--period", PERIOD, check=True)
    # then
    assert wait_until(lambda: status_delivery(redis_env, 1)["counts"]["sent"] == 4, 120), workers.log_text()[
        -3000:
    ]
    assert sorted(smtp.per_message_id().values()) == [1, 1, 1, 1]
