"""Bench and scale-test databases: a fresh schema and N subscribers, inserted in bulk.

Subscribers go in with the database's bulk path (COPY on PostgreSQL, `executemany` on
SQLite) in chunks of CHUNK rows, so a million of them takes seconds and the memory of
this process stays flat. Every subscriber is active, confirmed, on the default topic
`newsletter` with consent as basis: a lawful recipient of a campaign on that topic.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

CHUNK = 50_000
SUBSCRIBER_COLUMNS = (
    "id", "public_id", "email", "name", "locale", "status", "source",
    "created_at", "confirmed_at", "consented_at",
)  # fmt: skip
SUBSCRIPTION_COLUMNS = ("id", "subscriber_id", "topic_id", "basis", "created_at", "confirmed_at")


def address(number: int) -> str:
    """The address of bench subscriber `number` (1-based)."""
    return f"reader{number}@bench.example.org"


def create_postgres_database(url: str) -> str:
    """A new, private PostgreSQL database next to the one in `url`; returns its URL."""
    base = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"nl_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    """Drop a database made by `create_postgres_database`."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


def sqlite_url(directory: Path, name: str = "bench.db") -> str:
    """A SQLite database file in `directory` (removed first if it exists)."""
    path = Path(directory) / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def create_schema() -> None:
    """Tables and a new installation's rows (in an app context)."""
    from newsletter.clock import utcnow
    from newsletter.defaults import default_rows
    from newsletter.extensions import db

    db.drop_all()
    db.create_all()
    now = utcnow().replace(tzinfo=None)
    with db.engine.begin() as connection:
        for table_name, rows in default_rows(now).items():
            connection.execute(db.metadata.tables[table_name].insert(), rows)


def _rows(start: int, stop: int, when: datetime):
    subscribers, subscriptions = [], []
    for number in range(start, stop):
        public_id = secrets.token_urlsafe(16)
        subscribers.append(
            (number, public_id, address(number), None, "en", "active", "bench", when, when, when)
        )
        subscriptions.append((number, number, 1, "consent", when, when))
    return subscribers, subscriptions


def insert_subscribers(count: int, objections: int = 100) -> None:
    """`count` lawful recipients of topic 1, plus `objections` unrelated email objections.

    The objections make `campaigns.start_sending` take its real path (screening the
    recipients against the objection list), as on any installation that has had an
    opt-out. Runs in an app context; commits.
    """
    from newsletter.extensions import db

    when = datetime(2026, 1, 5, 9, 30, tzinfo=UTC).replace(tzinfo=None)
    raw = db.engine.raw_connection()
    try:
        if db.engine.dialect.name == "postgresql":
            _copy_postgres(raw, count, when)
        else:
            _insert_sqlite(raw.driver_connection, count, when)
        cursor = raw.cursor()
        placeholder = "%s" if db.engine.dialect.name == "postgresql" else "?"
        cursor.executemany(
            "INSERT INTO suppression (address_hash, channel, reason, created_at) "
            f"VALUES ({placeholder}, 'email', 'unsubscribed', {placeholder})",
            [(hashlib.sha256(b"gone%d" % i).hexdigest(), when) for i in range(objections)],
        )
        raw.commit()
    finally:
        raw.close()


def _insert_sqlite(connection: sqlite3.Connection, count: int, when: datetime) -> None:
    stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")
    for start in range(1, count + 1, CHUNK):
        subscribers, subscriptions = _rows(start, min(start + CHUNK, count + 1), stamp)
        connection.executemany(
            f"INSERT INTO subscriber ({', '.join(SUBSCRIBER_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(SUBSCRIBER_COLUMNS))})",
            subscribers,
        )
        connection.executemany(
            f"INSERT INTO subscription ({', '.join(SUBSCRIPTION_COLUMNS)}) VALUES "
            f"({', '.join('?' * len(SUBSCRIPTION_COLUMNS))})",
            subscriptions,
        )


def _copy_postgres(raw, count: int, when: datetime) -> None:
    cursor = raw.cursor()
    for start in range(1, count + 1, CHUNK):
        subscribers, subscriptions = _rows(start, min(start + CHUNK, count + 1), when)
        for table, columns, rows in (
            ("subscriber", SUBSCRIBER_COLUMNS, subscribers),
            ("subscription", SUBSCRIPTION_COLUMNS, subscriptions),
        ):
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    for table in ("subscriber", "subscription"):
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )
    cursor.execute("ANALYZE")
