"""What every command shares: the `invoicing` group, the one place library errors
become one-line messages and exit codes, the consoles, and the option types.

Exit codes: 0 success; 1 failure; 2 bad usage or bad input (nothing changed); 3 a run
that completed with some invoices failed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click
from rich.console import Console

from invoicing.cli.help import SectionedGroup
from invoicing.errors import plural as plural  # the commands' one plural rule

if TYPE_CHECKING:
    pass

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
PROBLEMS_SHOWN = 50  # import problems listed before "... and N more"
RUN_EXIT = {"completed": EXIT_OK, "completed_with_errors": EXIT_PARTIAL, "failed": EXIT_FAILED}

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


class Exit(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    raise Exit(message, code)


def handle_errors(func: F) -> F:
    """Turn every known library error into `invoicing: error: ...` and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError

        from invoicing.config import get_settings, redact
        from invoicing.db import describe
        from invoicing.errors import ImportProblems, InvoicingError
        from invoicing.storage import StorageError

        interrupted = False
        try:
            return func(*args, **kwargs)
        except Exit as exc:
            say_error(str(exc))
            sys.exit(exc.code)
        except ImportProblems as exc:
            for problem in exc.problems[:PROBLEMS_SHOWN]:
                err.print(f"  {problem}", markup=False)
            if len(exc.problems) > PROBLEMS_SHOWN:
                err.print(f"  ... and {len(exc.problems) - PROBLEMS_SHOWN} more", markup=False)
            say_error(str(exc))
            sys.exit(exc.exit_code)
        except InvoicingError as exc:
            say_error(str(exc))
            sys.exit(exc.exit_code)
        except OperationalError as exc:
            say_error(f"database error ({redact(get_settings().database_url)}): {describe(exc)}")
            sys.exit(EXIT_FAILED)
        except StorageError as exc:  # the store went away after the preflight; names the object
            say_error(f"storage: {exc}")
            sys.exit(EXIT_FAILED)
        except KeyboardInterrupt:
            interrupted = True
            say_error(_interrupted())
            sys.exit(130)
        except click.exceptions.ClickException:
            raise
        except Exception as exc:
            if os.environ.get("INVOICING_DEBUG"):
                raise
            from invoicing.config import configured_urls, scrub
            from invoicing.errors import first_line

            # A library's own line may quote a configured URL or a piece of its password.
            reason = scrub(first_line(exc, with_type=True), *configured_urls())
            say_error(f"unexpected {reason} (set INVOICING_DEBUG=1 for details)")
            sys.exit(EXIT_FAILED)
        finally:
            if not interrupted:  # Ctrl-C: the user wants out now; the outbox keeps the events
                _let_events_out()

    return wrapper  # type: ignore[return-value]


def _let_events_out() -> None:
    """However a command ends, the webhook events its process POSTs itself (embedded) get
    their first attempts finished before it exits, within one POST's timeout: those it
    recorded, and those an earlier command left that its start handed out again. What
    does not go out waits in the outbox, so this never fails the command, and it waits
    only while an attempt is under way. A process that never loaded the webhooks module
    recorded no event: nothing is imported for it."""
    webhooks = sys.modules.get("invoicing.delivery.webhooks")
    if webhooks is None:
        return
    try:
        webhooks.drain()
    except Exception as exc:  # noqa: BLE001 - an event never fails a command
        logging.getLogger(__name__).warning("webhook events left in the outbox: %s", exc)


# What is true when Ctrl-C stops the command at this point, and what to do next; the
# command says it as it goes (a billing run: before issuing, once it is issued).
_on_interrupt: list[Callable[[], str]] = []


def on_interrupt(say: Callable[[], str]) -> None:
    """From now on, Ctrl-C reports `say()` (called then, so it can look at the database)."""
    _on_interrupt[:] = [say]


def _interrupted() -> str:
    if not _on_interrupt:
        return "interrupted"
    try:
        return _on_interrupt[0]()
    except Exception:  # noqa: BLE001 - the database may be what was interrupted
        return "interrupted"
    finally:
        _on_interrupt.clear()


def say_error(message: str) -> None:
    err.print(f"invoicing: error: {message}", markup=False)


def current_settings() -> Any:
    from invoicing.config import get_settings

    return get_settings()


def ready(database: bool = True, storage: bool = False) -> Any:
    """The settings, once the database (and, for commands that read or write files, the
    output storage: an s3:// bucket's existence, credentials, reachability) answered."""
    settings = current_settings()
    if database:
        from invoicing.db import check_database

        check_database()
    if storage:
        from invoicing.storage import store_for

        store_for(settings).check()
    return settings


def is_stdout(output: Any) -> bool:
    """`-o -`: the file goes to standard output (the PDF or ZIP alone; messages on stderr)."""
    return str(output) == "-"


def check_output(output: Any, force: bool, settings: Any) -> None:
    """Every `-o`, before any work: a name the file system takes, a folder that is there,
    no existing file without --force, and never a billing run's file, even with --force
    (run/outputs.py). `-o -` only where standard output is not a terminal (binary bytes
    there would garble it and help no one). One line and exit 2 otherwise."""
    from invoicing.run.outputs import output_refusal

    if is_stdout(output):
        if sys.stdout.isatty():
            fail(
                "-o -: standard output is a terminal; send it to a file or a program (`-o - > FILE`, `| ...`)"
            )
        return

    problem = output_refusal(output, force, settings)
    if problem is not None:
        fail(problem)


@contextlib.contextmanager
def written_to(output: Path) -> Iterator[Path]:
    """The file a command writes: `output` itself, or for `-o -` a temp file whose bytes
    go to standard output once the command made it whole (a failure writes nothing there,
    as it leaves no file behind otherwise)."""
    if not is_stdout(output):
        yield output
        return
    with tempfile.TemporaryDirectory(prefix="invoicing-stdout-") as folder:
        path = Path(folder) / "output"
        yield path
        with open(path, "rb") as handle:
            shutil.copyfileobj(handle, sys.stdout.buffer)
        sys.stdout.buffer.flush()


def shown_output(output: Path) -> str:
    """The `-o` named in a message: its path, or standard output."""
    return "standard output" if is_stdout(output) else str(output)


class PeriodParam(click.ParamType):
    """`--period YYYY-MM`, parsed once here into a billing Period."""

    name = "period"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from invoicing.billing import BillingError, Period

        if not isinstance(value, str):
            return value
        try:
            return Period.parse(value)
        except BillingError as exc:
            self.fail(str(exc), param, ctx)


def output_options(kind: str = "PDF") -> Callable[[F], F]:
    """`-o FILE` (required; `-` for standard output) and `--force`: what every command that
    writes a file takes, checked by `check_output` before any work."""

    def decorate(func: F) -> F:
        func = click.option("--force", is_flag=True, help="Replace an existing file.")(func)
        return click.option(
            "-o",
            "output",
            required=True,
            type=click.Path(path_type=Path),
            help=f"{kind} file to write (- for standard output).",
        )(func)

    return decorate


def period_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--period", type=PeriodParam(), required=required, metavar="YYYY-MM", help="Billing period (month)."
    )


@click.group(
    cls=SectionedGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(package_name="invoicing")
def main() -> None:
    """Nightly PDF invoice batching: one Celery chord renders every subscriber's invoice
    and merges them into one file.

    Settings come from INVOICING_* environment variables (see README). With no
    INVOICING_BROKER_URL everything runs in this process; with a Redis broker, start
    workers with `celery -A invoicing worker`.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)


class OneLineFormatter(logging.Formatter):
    """Log records without tracebacks: a user sees what failed, not Python's stack.

    The embedded worker logs a failing task's traceback; INVOICING_DEBUG=1 keeps it.
    """

    def format(self, record: logging.LogRecord) -> str:
        if os.environ.get("INVOICING_DEBUG"):
            return super().format(record)
        record = logging.makeLogRecord(record.__dict__)
        record.exc_info = record.exc_text = None
        record.stack_info = None
        return super().format(record).splitlines()[0]


class AmountParam(click.ParamType):
    """A money amount: plain ASCII decimal form (`money.parse_decimal`, the one reading
    of a number a person gives), within the largest amount; Decimal, never float."""

    name = "amount"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from decimal import Decimal

        from invoicing.billing.money import beyond_max, parse_decimal

        if isinstance(value, Decimal):
            return value
        try:
            amount = parse_decimal(str(value))
        except ValueError:
            self.fail(
                f"not an amount: {value!r} (digits 0-9 and one '.', like 12.50; "
                "no exponent, sign or separators)",
                param,
                ctx,
            )
        problem = beyond_max(amount)
        if problem:
            self.fail(problem, param, ctx)
        return amount


_WHOLE = re.compile(r"-?[0-9]+")
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class WholeNumber(click.IntRange):
    """A whole number in plain ASCII digits, within [min, max] when given. Click's own
    INT is Python's int(): it also reads "1_000", full-width "１０" and Arabic-Indic
    "١٠", which no other number the project reads accepts."""

    def __init__(self, min: int | None = None, max: int | None = None) -> None:
        super().__init__(min, max)
        if min is None and max is None:
            self.name = "integer"  # shown as INTEGER, as click's INT is

    def _describe_range(self) -> str:
        # Unbounded: the help says nothing of a range, as for click's INT.
        return super()._describe_range() if self.min is not None or self.max is not None else ""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not _WHOLE.fullmatch(value):
            self.fail(f"{value!r} is not a valid integer (digits 0-9 only, like 10)", param, ctx)
        return super().convert(value, param, ctx)


class Seconds(click.FloatRange):
    """A time in seconds in plain ASCII decimal form, within [min, max]: Click's FLOAT is
    Python's float(), which also reads "nan" (never out of any range), "1e3", "1_0"."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not _SECONDS.fullmatch(value):
            self.fail(
                f"{value!r} is not a valid number of seconds (digits 0-9 and one '.', like 2.5)", param, ctx
            )
        return super().convert(value, param, ctx)
