"""Column types shared by the models, and SQLite's connection settings and transactions."""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session

# What services accept: a plain Session (tests, jobs) or Flask-SQLAlchemy's scoped `db.session`.
DbSession = Session | scoped_session[Any]


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (naive in SQLite, timestamptz in PostgreSQL)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite begins a transaction before INSERT/UPDATE/DELETE but never before SAVEPOINT, so a
    # savepoint opened first began a transaction of its own and RELEASE committed it: the
    # request's later rollback lost nothing. As SQLAlchemy's pysqlite recipe does, the driver's
    # own handling is switched off and BEGIN is ours (`_sqlite_begin_before_write`).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# Statements that write, or open a savepoint: the first of them in a transaction begins it.
_BEGINS = frozenset(
    {"INSERT", "UPDATE", "DELETE", "REPLACE", "SAVEPOINT", "CREATE", "DROP", "ALTER"}
)


def _sqlite_begin_before_write(
    conn: sa.Connection, _cursor: Any, statement: str, *_args: Any
) -> None:
    """BEGIN IMMEDIATE before a transaction's first write, not (as the recipe has it) before
    its first read: reads never wait for a writer (WAL), and a writer takes the lock before
    reading what it writes, so it waits its turn (busy_timeout) instead of failing with
    "database is locked" when another transaction committed since its first read."""
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection is None or dbapi_connection.in_transaction:
        return
    words = statement.lstrip().split(None, 1)
    if words and words[0].upper() in _BEGINS:
        dbapi_connection.execute("BEGIN IMMEDIATE")


def init_app(app: Flask) -> None:
    from peepopay.extensions import db

    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_connect)
            sa.event.listen(engine, "before_cursor_execute", _sqlite_begin_before_write)
    app.after_request(commit_or_rollback)


def commit_or_rollback(response: Any) -> Any:
    """The one place a request's work is committed: kept on success, dropped on any error."""
    from peepopay.extensions import db

    if response.status_code < 400:
        db.session.commit()
    else:
        db.session.rollback()
    return response
