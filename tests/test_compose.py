"""docker-compose.yml and its image (.docker/Dockerfile) are for users, and there is no Docker
engine here: parse them and check that every command names modules, commands, extras
and settings that exist, that one image built once runs every app service as a non-root
user, that the S3 service the output goes to is healthchecked and has its bucket, and that
Redis requires a password, held by no file, that every service reaching it has."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from invoicing.cli import main as cli_main
from invoicing.config import Settings
from tests.support.paths import ROOT
from tests.support.workers import PrivateRedis

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
APP_SERVICES = ("worker", "beat", "flower", "api", "cli")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# The variables botocore reads for the endpoint, the keys and the region.
AWS_NAMES = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}


def argv(service: dict) -> list[str]:
    command = service["command"]
    if isinstance(command, str):
        return shlex.split(command)
    if command[:2] == ["sh", "-c"]:
        return shlex.split(command[2].split("&&")[-1])
    return list(command)


def dockerfile() -> tuple[Path, list[tuple[str, str]]]:
    """The image's Dockerfile and its instructions (continuation lines joined)."""
    build = SERVICES["worker"]["build"]
    path = ROOT / build["context"] / build["dockerfile"]
    instructions, pending = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return path, instructions


def final_stage() -> list[tuple[str, str]]:
    _, instructions = dockerfile()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_expected_services_with_healthchecks() -> None:
    assert {"redis", "postgres", "s3", "s3-bucket", "worker", "beat", "flower", "api", "cli"} <= set(SERVICES)
    for name in ("redis", "postgres", "s3", "worker", "api"):
        assert "healthcheck" in SERVICES[name], name
    # The worker must be scalable: no fixed container name or host port.
    assert "container_name" not in SERVICES["worker"] and "ports" not in SERVICES["worker"]


def test_one_image_built_once_runs_every_app_service_and_nothing_installs_at_start() -> None:
    images = {SERVICES[name]["image"] for name in APP_SERVICES}
    builds = {yaml.safe_dump(SERVICES[name].get("build")) for name in APP_SERVICES}
    assert len(images) == 1 and len(builds) == 1 and SERVICES["worker"]["build"], (images, builds)
    # no service installs anything when it starts, and there is no virtualenv volume any more
    for name, service in SERVICES.items():
        words = " ".join(str(part) for key in ("command", "entrypoint") for part in service.get(key) or [])
        assert "pip" not in words.split() and "pip install" not in words, (name, words)
        assert not any("venv" in str(volume) for volume in service.get("volumes", [])), name
    assert "venv" not in COMPOSE.get("volumes", {})
    # and the image's Dockerfile lives under a dot-folder: the top level stays as it is
    path, instructions = dockerfile()
    assert path.is_file() and path.relative_to(ROOT).parts[0].startswith("."), path
    assert all(keyword != "ENTRYPOINT" or "pip" not in rest for keyword, rest in instructions)


def test_the_image_copies_what_exists_and_the_build_context_keeps_it() -> None:
    path, instructions = dockerfile()
    ignore = path.with_name(path.name + ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [p.strip() for p in ignore if p.strip() and not p.startswith("#")]

    def kept(name: str) -> bool:  # .dockerignore semantics: the last matching pattern wins
        result = True
        for pattern in patterns:
            negated = pattern.startswith("!")
            if fnmatch.fnmatch(name, pattern.lstrip("!").rstrip("/")):
                result = negated
        return result

    copied = []
    for keyword, rest in instructions:
        if keyword == "COPY" and "--from=" not in rest:
            sources = [word for word in shlex.split(rest) if not word.startswith("--")][:-1]
            copied += sources
    assert {"pyproject.toml", "README.md", "invoicing", "fixtures"} <= set(copied)
    for source in copied:
        assert (ROOT / source).exists() and kept(source), source
    assert not kept(".venv") and not kept(".git") and not kept("output")


def test_the_image_runs_as_a_user_that_is_not_root() -> None:
    users = [rest for keyword, rest in final_stage() if keyword == "USER"]
    assert users, "the final stage sets no USER: the containers would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and user.isdigit(), user  # numeric: checkable as non-root
    assert any(keyword == "RUN" and f"--uid {user}" in rest for keyword, rest in final_stage())
    for name in APP_SERVICES:
        assert str(SERVICES[name].get("user", user)).split(":")[0] not in ("root", "0"), name


def test_celery_commands_name_the_real_app_the_queue_and_the_flower_extra() -> None:
    from celery.bin.celery import celery as celery_cli

    import invoicing.celery

    for name in ("worker", "beat", "flower"):
        args = argv(SERVICES[name])
        assert args[:3] == ["celery", "-A", "invoicing"], (name, args)
        if args[3] != "flower":  # a plugin command, from the image's `flower` extra
            assert args[3] in celery_cli.commands, (name, args[3])
    assert isinstance(invoicing.celery.app.main, str)
    worker = argv(SERVICES["worker"])
    assert worker[worker.index("-Q") + 1] == Settings.model_fields["queue"].default
    # flower: an extra of the project, installed in the image
    extra = PYPROJECT["project"]["optional-dependencies"]["flower"]
    assert any(requirement.startswith("flower") for requirement in extra), extra
    installs = [rest for keyword, rest in dockerfile()[1] if keyword == "RUN" and "pip install" in rest]
    assert any("'.[flower]'" in rest or '".[flower]"' in rest for rest in installs), installs
    # and installed with the test extra as in the image, it is the celery subcommand the
    # service runs
    plugins = {entry.name for entry in entry_points(group="celery.commands")}
    assert "flower" in plugins, plugins


def test_beat_schedule_exists_for_the_tasks_it_names() -> None:
    from invoicing.celery import app, celery_config

    app.loader.import_default_modules()  # every module of the app's include list: its tasks

    schedule = celery_config(Settings(run_schedule=SERVICES["beat"]["environment"]["INVOICING_RUN_SCHEDULE"]))
    for entry in schedule["beat_schedule"].values():
        assert entry["task"] in app.tasks, entry["task"]


def test_environment_names_real_settings_and_the_standard_aws_variables() -> None:
    fields = {f"INVOICING_{name.upper()}" for name in Settings.model_fields}
    for name in APP_SERVICES:
        env = SERVICES[name]["environment"]
        for key in env:
            assert key in fields or key in AWS_NAMES, (name, key)
        assert urlsplit(interpolate(env["INVOICING_BROKER_URL"], SAMPLE)).hostname == "redis"
        assert AWS_NAMES <= set(env), name


def test_output_goes_to_the_s3_service_which_is_healthchecked_and_has_its_bucket() -> None:
    env = SERVICES["worker"]["environment"]
    output = urlsplit(env["INVOICING_OUTPUT_DIR"])
    assert output.scheme == "s3" and output.netloc and output.path.strip("/"), env["INVOICING_OUTPUT_DIR"]
    # the endpoint is the s3 service's S3 port, and its healthcheck asks that port
    s3 = SERVICES["s3"]
    assert s3["image"].split(":")[0] == "chrislusf/seaweedfs"
    command = s3["command"]
    assert command[0] == "mini"
    port = next((arg.split("=", 1)[1] for arg in command if arg.startswith("-s3.port=")), "8333")
    endpoint = urlsplit(env["AWS_ENDPOINT_URL"])
    assert (endpoint.hostname, str(endpoint.port)) == ("s3", port)
    assert f":{port}/healthz" in " ".join(s3["healthcheck"]["test"])
    # it signs with the keys the app uses
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert s3["environment"][key] == env[key], key
    # the one-shot step creates the output's bucket, after the store is healthy
    bucket_step = SERVICES["s3-bucket"]
    script = " ".join(bucket_step["command"])
    assert f"s3.bucket.create -name {output.netloc}" in script and "weed shell -master=s3:" in script
    assert bucket_step["depends_on"]["s3"]["condition"] == "service_healthy"
    assert bucket_step.get("restart", "no") == "no"
    # and no app service starts before both
    for name in APP_SERVICES:
        depends = SERVICES[name]["depends_on"]
        assert depends["s3"]["condition"] == "service_healthy", name
        assert depends["s3-bucket"]["condition"] == "service_completed_successfully", name


def test_the_aws_variables_are_what_botocore_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    boto3 = pytest.importorskip("boto3", reason="boto3 comes with the S3 storage")
    env = SERVICES["worker"]["environment"]
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    for key in AWS_NAMES:
        monkeypatch.setenv(key, str(env[key]))
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    session = boto3.session.Session()
    client = session.client("s3")
    credentials = session.get_credentials()
    assert client.meta.endpoint_url == env["AWS_ENDPOINT_URL"]
    assert client.meta.region_name == env["AWS_DEFAULT_REGION"]
    assert (credentials.access_key, credentials.secret_key) == (
        env["AWS_ACCESS_KEY_ID"],
        env["AWS_SECRET_ACCESS_KEY"],
    )


def test_the_api_serves_on_the_port_it_publishes_on_the_hosts_loopback_only() -> None:
    # given
    api = SERVICES["api"]
    args = argv(api)
    # when
    command = cli_main.commands[args[1]]
    options = dict(zip(args[2::2], args[3::2], strict=True))
    # then `invoicing serve` listens in the container on the port published on 127.0.0.1
    assert (command.name, options["--host"]) == ("serve", "0.0.0.0")
    assert api["ports"] == [f"127.0.0.1:{options['--port']}:{options['--port']}"]
    assert f"127.0.0.1:{options['--port']}/health" in " ".join(api["healthcheck"]["test"])


def test_cli_service_runs_an_existing_command() -> None:
    args = argv(SERVICES["cli"])
    assert args[0] == "invoicing"
    assert args[1] == "--help" or args[1] in cli_main.commands
    header = (ROOT / "docker-compose.yml").read_text(encoding="utf-8").splitlines()
    for line in header:
        if "docker compose run --rm cli invoicing" in line:
            sub = line.split("cli invoicing", 1)[1].split()[0]
            assert sub in cli_main.commands, line
        if "docker compose run --rm cli invoicing db seed --fixtures" in line:
            fixtures = line.split("--fixtures", 1)[1].split()[0]
            assert (ROOT / fixtures).is_file(), line  # the image copies fixtures/ to its workdir


# --- Redis requires a password -------------------------------------------------------------

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[?-])(?P<arg>[^}]*))?\}")
SAMPLE = {"REDIS_PASSWORD": "c0mposeSample7", "POSTGRES_PASSWORD": "pgSample8"}


def interpolate(value: str, environ: Mapping[str, str]) -> str:
    """A value as compose substitutes it: the forms of the Compose spec this file may use
    ($$, ${VAR}, ${VAR:-default}, ${VAR:?error}). Hand-written: there is no compose here,
    and no Python implementation of it among the dependencies."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"]
        value = environ.get(name)
        if op in (":?", "?") and (value is None or (op == ":?" and not value)):
            raise LookupError(f"{name}: {arg}")
        if op in (":-", "-") and (value is None or (op == ":-" and not value)):
            return arg
        return value or ""

    return _VARIABLE.sub(substitute, value)


def redis_urls(service: dict) -> dict[str, str]:
    """The service's variables whose value is a Redis URL, interpolated with SAMPLE."""
    found = {}
    for key, value in (service.get("environment") or {}).items():
        text = interpolate(str(value), SAMPLE)
        if urlsplit(text).scheme in ("redis", "rediss"):
            found[key] = text
    return found


def talks_to_redis(name: str) -> bool:
    service = SERVICES[name]
    return name != "redis" and ("redis" in (service.get("depends_on") or {}) or bool(redis_urls(service)))


def redis_settings() -> dict[str, str]:
    """The redis service's `--name value` arguments to redis-server, interpolated with SAMPLE."""
    command = [interpolate(str(part), SAMPLE) for part in SERVICES["redis"]["command"]]
    assert command[0] == "redis-server" and all(a.startswith("--") for a in command[1::2]), command
    return {name[2:]: value for name, value in zip(command[1::2], command[2::2], strict=True)}


def test_redis_requires_a_password_the_file_does_not_hold() -> None:
    # given the redis service's command as written
    command = [str(part) for part in SERVICES["redis"]["command"]]
    # then it requires a password, taken from a variable that must be set
    assert "--requirepass" in command, command
    required = command[command.index("--requirepass") + 1]
    assert re.fullmatch(r"\$\{REDIS_PASSWORD:\?[^}]+\}", required), required
    with pytest.raises(LookupError, match="REDIS_PASSWORD"):
        interpolate(required, {})
    # and nowhere does the file give it a default
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert not re.search(r"\$\{REDIS_PASSWORD:?-", text)
    assert not (ROOT / ".env").exists()


def test_every_service_that_talks_to_redis_has_the_password_in_its_urls() -> None:
    # given the services that reach Redis (they depend on it or name it in a URL)
    talking = {name for name in SERVICES if talks_to_redis(name)}
    assert set(APP_SERVICES) <= talking, talking
    for name in sorted(talking):
        urls = redis_urls(SERVICES[name])
        # then each has its broker and result URLs, and every Redis URL carries the password
        assert {"INVOICING_BROKER_URL", "INVOICING_RESULT_BACKEND"} <= set(urls), (name, urls)
        for key, url in urls.items():
            parts = urlsplit(url)
            assert (parts.hostname, parts.password) == ("redis", SAMPLE["REDIS_PASSWORD"]), (name, key)


def test_postgres_takes_a_required_password_that_every_database_url_carries() -> None:
    # given the postgres service and the app services' database URLs
    required = str(SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"])
    # then the password is a variable that must be set, never a literal in the file
    assert re.fullmatch(r"\$\{POSTGRES_PASSWORD:\?[^}]+\}", required), required
    with pytest.raises(LookupError, match="POSTGRES_PASSWORD"):
        interpolate(required, {})
    for name in APP_SERVICES:
        url = interpolate(str(SERVICES[name]["environment"]["INVOICING_DATABASE_URL"]), SAMPLE)
        # and every app service connects with it
        assert urlsplit(url).password == SAMPLE["POSTGRES_PASSWORD"], (name, url)


def test_the_compose_redis_refuses_a_client_without_the_password(tmp_path: Path) -> None:
    import redis

    # given a redis-server given the compose service's own arguments (as CONFIG SET: the
    # same settings, applied once it answers on its port of this test's own)
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        admin = redis.Redis(port=server.port)
        settings = redis_settings()
        for name, value in settings.items():
            if name != "requirepass":
                admin.config_set(name, value)
        admin.config_set("requirepass", settings["requirepass"])  # last: it locks us out
        local = f"127.0.0.1:{server.port}"
        broker = redis_urls(SERVICES["worker"])["INVOICING_BROKER_URL"].replace("redis:6379", local)
        # when a client without it, and the workers' URL, ask
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=server.port).ping()
        answered = redis.Redis.from_url(broker).ping()
        # and the service's healthcheck, with the environment compose gives the container
        health = SERVICES["redis"]["healthcheck"]["test"]
        assert health[0] == "CMD-SHELL", health
        environment = {k: interpolate(str(v), SAMPLE) for k, v in SERVICES["redis"]["environment"].items()}
        check = subprocess.run(
            ["sh", "-c", health[1].replace("redis-cli", f"redis-cli -p {server.port}")],
            env={**os.environ, **environment},
            capture_output=True,
            timeout=30,
        )
    finally:
        server.kill()
    # then only the password opens it, and the healthcheck has it
    assert answered is True
    assert check.returncode == 0, check
