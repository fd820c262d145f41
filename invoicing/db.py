"""Engine, sessions and migrations.

SQLite (the embedded default) gets WAL mode and a busy timeout so several worker
processes can write to one file; PostgreSQL gets a connect timeout so an unreachable
server is reported in seconds, not after a TCP timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    NoSuchModuleError,
    OperationalError,
)
from sqlalchemy.orm import Session, sessionmaker

from invoicing.config import configured_urls, get_settings, redact, scrub
from invoicing.errors import InvoicingError, first_line, plural

MIGRATIONS = Path(__file__).parent / "migrations"

_lock = threading.Lock()
_engines: dict[str, Engine] = {}


class DatabaseError(InvoicingError):
    """The database cannot be used; the message is one line without credentials."""


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().database_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = _create_engine(url)
        return engine


def _create_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise DatabaseError(f"INVOICING_DATABASE_URL is not a database URL: {redact(url)}") from None
    if "@" in (parsed.host or ""):
        # SQLAlchemy ends the password at the first "@"; the rest of it would be taken
        # for the host name and shown in the driver's errors.
        raise DatabaseError(
            f"INVOICING_DATABASE_URL: percent-encode '@' in the password as %40: {redact(url)}"
        )
    timeout = get_settings().connect_timeout_s
    connect_args: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        # The busy timeout makes concurrent writers wait for the lock instead of failing.
        connect_args["timeout"] = 30
        # A statement in sqlite3's cache keeps the memory SQLite gave it: with the default
        # 128, importing 60,000 subscribers in chunks of 10,000 grew SQLite's memory to
        # 23 MB, 3.5 MB a chunk (a million subscribers: 584 MB resident); with 16 it
        # stays at 6 MB, for the same CPU. The queries a worker repeats stay cached.
        connect_args["cached_statements"] = 16
    elif parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = max(1, int(timeout))
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, connect_args=connect_args, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        reason = scrub(first_line(exc), url)
        raise DatabaseError(f"unsupported database URL {redact(url)}: {reason}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def dispose_engines() -> None:
    """Forget pooled connections, e.g. in a freshly forked worker process."""
    with _lock:
        for engine in _engines.values():
            engine.dispose(close=False)


_factories: dict[str, sessionmaker[Session]] = {}


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    engine = get_engine(url)
    factory = _factories.get(str(engine.url))
    if factory is None:
        factory = _factories[str(engine.url)] = sessionmaker(engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def describe(exc: BaseException, url: str | None = None) -> str:
    """A one-line, credential-free description of a database error: the driver's own
    line, with whatever it repeats of the URL's secrets (psycopg names the host it was
    given, which may hold the tail of an unencoded password) masked."""
    line = first_line(exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc)
    return scrub(line, url, *configured_urls())


def check_database(url: str | None = None) -> None:
    """Connect once and make sure the schema is there, or raise DatabaseError."""
    settings_url = url or get_settings().database_url
    missing = _missing_sqlite_file(settings_url)
    if missing is not None:
        # Connecting would create an empty file: a read-only command must leave none behind.
        raise DatabaseError(f"no database at {missing} yet: run `invoicing db init`")
    try:
        engine = get_engine(settings_url)
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
    except OperationalError as exc:
        raise DatabaseError(
            f"cannot reach the database {redact(settings_url)}: {describe(exc, settings_url)}"
        ) from None
    if "billing_runs" not in tables:
        raise DatabaseError(f"the database {redact(settings_url)} has no schema yet: run `invoicing db init`")


def _sqlite_file(url: str) -> Path | None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):  # a URI filename: leave it to SQLite
        return None
    return Path(parsed.database)


def _missing_sqlite_file(url: str) -> Path | None:
    path = _sqlite_file(url)
    return path if path is not None and not path.exists() else None


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Percent signs in passwords would be taken for interpolation by configparser.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def init_db(url: str | None = None, revision: str = "head") -> str:
    """Create or upgrade the schema to `revision` (default: the newest); returns the revision."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    url = url or get_settings().database_url
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = get_engine(url)
    try:
        with engine.connect() as connection:
            with _foreign_keys_off_on_sqlite(connection):
                with connection.begin():
                    config = _alembic_config(url)
                    config.attributes["connection"] = connection
                    command.upgrade(config, revision)
                    _check_foreign_keys(connection)
            current = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database {redact(url)}: {describe(exc, url)}") from None
    return current or ""


@contextmanager
def _foreign_keys_off_on_sqlite(connection: Connection) -> Iterator[None]:
    """SQLite's own procedure for schema changes. A migration that must copy a table (batch
    mode) drops the old copy, and with foreign keys on that first deletes its rows and
    whatever references them: invoice lines cascade. The pragma is ignored inside a
    transaction, hence outside, before the migration's."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise DatabaseError("cannot turn SQLite's foreign keys off to migrate the schema")
    connection.commit()
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def _check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise DatabaseError(f"the migration left {plural(len(broken), 'row')} with broken references")


def schema_problem(url: str | None = None) -> str | None:
    """Why the database at `url` cannot be used by this version's code, as one line that
    says what to do; None when it holds the schema at the newest migration.

    A worker checks this at start (celery.py): one pointed at another database than the
    CLI's (a missing INVOICING_DATABASE_URL gives SQLite's `./invoicing.db`) would
    otherwise create an empty file and fail every task with the SQL of `no such table`.
    A missing SQLite file is reported without connecting, which would create it.
    """
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    url = url or get_settings().database_url
    shown = redact(url)
    fix = "run `invoicing db init`, or set INVOICING_DATABASE_URL as the CLI has it"
    missing = _missing_sqlite_file(url)
    if missing is not None:
        return f"no database at {missing.absolute()} (INVOICING_DATABASE_URL={shown}): {fix}"
    engine = get_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        return f"cannot reach the database {shown}: {describe(exc, url)}"
    finally:
        engine.dispose()  # a worker's parent holds no connection it forks or keeps idle
    script = ScriptDirectory.from_config(_alembic_config(url))
    head = script.get_current_head()
    if current is None:
        return f"the database {shown} has no schema: {fix}"
    if current == head:
        return None
    known = {revision.revision for revision in script.walk_revisions()}
    if current in known:
        return (
            f"the database {shown} is at schema revision {current}, this version needs {head}: "
            "run `invoicing db init` (it upgrades the schema)"
        )
    return (
        f"the database {shown} is at schema revision {current}, which this version does not know "
        f"(its newest is {head}): run the same version of invoicing as the CLI"
    )


def analyze(connection: Connection, *tables: Table) -> None:
    """Give PostgreSQL the statistics of what this transaction wrote to `tables` now
    (ANALYZE samples at most 30,000 rows of each), rather than when autovacuum gets to
    them (never to a temporary table, and never where it is off): planned on a table it
    never analyzed, a look-up by id reads the whole table. SQLite plans by rule and needs
    none."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"ANALYZE {', '.join(table.name for table in tables)}")
