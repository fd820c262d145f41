"""A command imports what it uses: reading a run's state loads neither Celery nor the
renderer, the merge, the e-invoice checks nor the issuing and import machinery, which
are most of a second of start-up each time a command runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from invoicing.config import RUN_SCHEDULE, Settings
from invoicing.run.schedule import crontab_from
from tests.support.runs import issue_run

# Run `invoicing ARGS` in a fresh interpreter and print the modules it loaded.
LOADED = """
import json, sys
from invoicing.cli import main
try:
    main(sys.argv[1:], prog_name="invoicing")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

# What only issuing, rendering, merging, e-invoices, imports or Celery need.
UNUSED_BY_READERS = (
    "celery",
    "kombu",
    "lxml",
    "reportlab",
    "pypdf",
    "uharfbuzz",
    "pikepdf",
    "alembic",
    "babel.dates",
    "invoicing.billing.issue",
    "invoicing.billing.documents",
    "invoicing.billing.einvoices",
    "invoicing.billing.setbased",
    "invoicing.billing.importer",
    "invoicing.pdf.einvoice",
    "invoicing.pdf.translate",
)


def loaded_by(env, *args: str) -> tuple[int, set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", LOADED, *args],
        cwd=env.path,
        env=env.environ(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    return result["code"], set(result["modules"])


def loaded_of(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if name in modules or any(m.startswith(f"{name}.") for m in modules)]


@pytest.mark.parametrize("args", [("status",), ("status", "--json"), ("runs",)], ids=" ".join)
def test_reading_a_run_loads_none_of_the_machinery(env, args: tuple[str, ...]) -> None:
    # given a run of the fixtures' October, issued and not rendered yet
    issue_run()
    # when a command reports it
    code, modules = loaded_by(env, *args)
    # then it did, and imported nothing it has no use for
    assert code in (0, None)
    assert "invoicing.run.report" in modules
    assert loaded_of(modules, UNUSED_BY_READERS) == []


def test_the_default_schedule_loads_no_celery(env) -> None:
    # when the settings are read with the default nightly schedule
    code = "import sys; from invoicing.config import Settings; Settings(); print('celery' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=env.path, env=env.environ(), capture_output=True, text=True
    )
    # then Celery was not imported to check it
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_the_default_schedule_is_one_celery_takes() -> None:
    # The validator lets the default through unchecked: it has to be a valid line.
    schedule = crontab_from(RUN_SCHEDULE)
    assert schedule.hour == {2} and schedule.minute == {0}
    assert Settings(_env_file=None).run_schedule == RUN_SCHEDULE
