"""docker-compose.yml is for users (no Docker engine here): parse it and check that every
command in it names modules, commands and settings that exist."""

from __future__ import annotations

import shlex

import yaml

from invoicing.cli import main as cli_main
from invoicing.config import Settings
from tests.support.paths import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]


def argv(service: dict) -> list[str]:
    command = service["command"]
    if isinstance(command, str):
        return shlex.split(command)
    if command[:2] == ["sh", "-c"]:
        return shlex.split(command[2].split("&&")[-1])
    return list(command)


def test_expected_services_with_healthchecks() -> None:
    assert {"redis", "postgres", "worker", "beat", "flower"} <= set(SERVICES)
    for name in ("redis", "postgres", "worker"):
        assert "healthcheck" in SERVICES[name], name
    # The worker must be scalable: no fixed container name or host port.
    assert "container_name" not in SERVICES["worker"] and "ports" not in SERVICES["worker"]


def test_celery_commands_name_the_real_app_and_queue() -> None:
    from celery.bin.celery import celery as celery_cli

    import invoicing.celery

    for name in ("worker", "beat", "flower"):
        args = argv(SERVICES[name])
        assert args[:3] == ["celery", "-A", "invoicing"], (name, args)
        if args[3] != "flower":  # flower is a plugin command, installed by the service itself
            assert args[3] in celery_cli.commands, (name, args[3])
    assert isinstance(invoicing.celery.app.main, str)
    worker = argv(SERVICES["worker"])
    assert worker[worker.index("-Q") + 1] == Settings.model_fields["queue"].default


def test_beat_schedule_exists_for_the_tasks_it_names() -> None:
    import invoicing.run.tasks  # noqa: F401 - registers the tasks
    from invoicing.celery import app, celery_config

    schedule = celery_config(Settings(run_schedule=SERVICES["beat"]["environment"]["INVOICING_RUN_SCHEDULE"]))
    for entry in schedule["beat_schedule"].values():
        assert entry["task"] in app.tasks, entry["task"]


def test_environment_names_real_settings_and_all_services_share_the_output_volume() -> None:
    fields = {f"INVOICING_{name.upper()}" for name in Settings.model_fields}
    for name in ("worker", "beat", "flower"):
        env = SERVICES[name]["environment"]
        for key in env:
            if key.startswith("INVOICING_"):
                assert key in fields, (name, key)
        assert env["INVOICING_BROKER_URL"].startswith("redis://redis:")
        assert any(str(v).startswith("invoices:") for v in SERVICES[name]["volumes"])
    assert set(COMPOSE["volumes"]) >= {"invoices"}


def test_cli_service_runs_an_existing_command() -> None:
    args = argv(SERVICES["cli"])
    assert args[0] == "invoicing"
    assert args[1] == "--help" or args[1] in cli_main.commands
    header = (ROOT / "docker-compose.yml").read_text(encoding="utf-8").splitlines()
    for line in header:
        if "docker compose run --rm cli invoicing" in line:
            sub = line.split("cli invoicing", 1)[1].split()[0]
            assert sub in cli_main.commands, line
