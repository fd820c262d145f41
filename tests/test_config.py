"""Settings and the Celery configuration derived from them."""

from __future__ import annotations

import pytest

from invoicing.celery import celery_config
from invoicing.config import ConfigError, Settings, get_settings, redact
from invoicing.run.schedule import crontab_from
from tests.support.paths import ROOT


def test_defaults_are_embedded() -> None:
    s = Settings(_env_file=None)
    assert s.database_url == "sqlite:///./invoicing.db"
    assert s.broker_url is None and s.embedded
    assert s.effective_result_backend == "cache+memory://"
    assert str(s.output_dir) == "output"


def test_redis_broker_doubles_as_result_backend() -> None:
    s = Settings(_env_file=None, broker_url="redis://127.0.0.1:6379/0")
    assert s.effective_result_backend == "redis://127.0.0.1:6379/0"
    s.check_chords()


def test_explicit_result_backend_wins() -> None:
    s = Settings(_env_file=None, broker_url="amqp://h//", result_backend="redis://h/1")
    assert s.effective_result_backend == "redis://h/1"


def test_amqp_without_backend_is_refused() -> None:
    s = Settings(_env_file=None, broker_url="amqp://guest:pw@h//")
    with pytest.raises(ConfigError, match="chords need a result backend") as info:
        s.check_chords()
    assert "pw" not in str(info.value)


def test_blank_broker_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_BROKER_URL", "  ")
    assert Settings(_env_file=None).embedded


def test_env_and_dotenv(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "INVOICING_OUTPUT_DIR=/srv/out\nINVOICING_SELLER_ADDRESS=Main St 1|Springfield\n"
    )
    monkeypatch.setenv("INVOICING_PAYMENT_TERMS_DAYS", "30")
    s = Settings()
    assert str(s.output_dir) == "/srv/out"
    assert s.seller_address == ["Main St 1", "Springfield"]
    assert s.payment_terms_days == 30


def test_a_seller_vat_id_typed_with_a_typographic_dash_and_spaces_is_kept_compact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a VAT id as a word processor writes it: lower case, an en dash, a no-break space
    monkeypatch.setenv("INVOICING_SELLER_VAT_ID", "de\u00a0123.456\u2013788")
    # when the settings are read
    settings = Settings(_env_file=None)
    # then it is kept as EN 16931 wants it
    assert settings.seller_vat_id == "DE123456788"


def test_invalid_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INVOICING_PAYMENT_TERMS_DAYS", "-3")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="INVOICING_PAYMENT_TERMS_DAYS"):
            get_settings()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:secret@h:6379/0", "redis://:***@h:6379/0"),
        ("postgresql+psycopg://bill:secret@db/inv", "postgresql+psycopg://bill:***@db/inv"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        (None, "(unset)"),
    ],
)
def test_redact(url: str | None, shown: str) -> None:
    assert redact(url) == shown


def test_celery_config_for_long_cpu_bound_tasks() -> None:
    conf = celery_config(Settings(_env_file=None, broker_url="redis://h/0", redis_prefix="p:"))
    assert conf["task_serializer"] == conf["result_serializer"] == "json"
    assert conf["accept_content"] == ["json"] and conf["result_accept_content"] == ["json"]
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["broker_transport_options"]["visibility_timeout"] == 3600
    assert conf["broker_transport_options"]["global_keyprefix"] == "p:"
    assert conf["result_backend_transport_options"]["global_keyprefix"] == "p:"
    assert conf["result_expires"] > 0 and conf["result_chord_join_timeout"] >= 60


def test_embedded_celery_config() -> None:
    conf = celery_config(Settings(_env_file=None))
    assert conf["broker_url"].startswith("memory://")
    assert conf["result_backend"] == "cache+memory://"


def test_schedule() -> None:
    schedule = crontab_from("30 1 * * *")
    assert schedule.hour == {1} and schedule.minute == {30}
    with pytest.raises(ValueError, match="5 cron fields"):
        crontab_from("daily")


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        variable = f"INVOICING_{name.upper()}"
        short = "_" + name.upper().removeprefix("SELLER_")
        assert variable in readme or (name.startswith("seller_") and short in readme), variable


def test_every_test_the_readme_cites_exists() -> None:
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"`(test_\w+)`", readme))
    defined = {
        name
        for path in (ROOT / "tests").glob("test_*.py")
        for name in re.findall(r"^def (test_\w+)", path.read_text(encoding="utf-8"), re.M)
    }
    assert len(cited) > 10 and cited <= defined, sorted(cited - defined)
