"""On SQLite, the database tells the senders when who-may-get-mail changed (rule 3).

The per-message re-check (`recipients.still_lawful`) is a query for every message. On
SQLite the same guarantee is kept with less: row triggers on each table that re-check
reads (subscriber, subscription, topic, suppression) add one to the single row of
`recipient_change_count` in the changing transaction, whatever wrote it (the app, an
import, the API, an operator's sqlite3). The sender's own connection asks `PRAGMA
data_version` before each message, which changes when any other connection committed
anything (about 4 us, no table read), and reads the count again only then. While the
count stands still, nothing rules 1 and 3 read of the batch's recipients has changed
since they were read (rule 1 reads no clock: a lapsed consent is a deleted row,
`reconsent`), so the message goes with what was read; once it moved, every remaining
message of the batch is re-checked as before; the next batch reads afresh. Synchronous:
a change whose COMMIT has returned is seen before the next message.

Anything unsure falls back to the re-check for every message: a trigger missing
(checked before each batch), the count's row missing, the watching connection lost, an
in-memory database (a second connection would be another database), and PostgreSQL.
PostgreSQL's LISTEN/NOTIFY was tried (session 7, docs/PERFORMANCE.md): a notification
arrives after the COMMIT has returned, and under load in CI one arrived too late, so a
message went after an opt-out had committed; PostgreSQL keeps the re-check.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, text

from ..extensions import db
from ..models import RecipientChangeCount, Subscriber, Subscription, Suppression, Topic

log = logging.getLogger(__name__)

TRIGGER = "newsletter_recipients_changed"
# What each watched table's trigger fires on: the inserts that cannot make anybody
# unlawful (a new subscriber, subscription or topic) are left out, or every signup during
# a send would turn the fast path off for the batch.
WATCHED = {
    Subscriber.__table__: ("UPDATE", "DELETE"),
    Subscription.__table__: ("UPDATE", "DELETE"),
    Topic.__table__: ("UPDATE", "DELETE"),
    Suppression.__table__: ("INSERT", "UPDATE", "DELETE"),
}


def create_triggers(connection: Connection) -> None:
    """Install (or replace) SQLite's triggers and the count's row; nothing elsewhere.

    Called by migration 0017 and after `metadata.create_all` (the tests' schema)."""
    if connection.dialect.name == "sqlite":
        _create_sqlite(connection)


COUNT = RecipientChangeCount.__table__.name


def sqlite_triggers() -> dict[str, str]:
    """SQLite's triggers, by name: one an event (SQLite has one event a trigger; a DELETE
    without WHERE fires row triggers too), each a row of the count."""
    found = {}
    for table, events in WATCHED.items():
        for event in events:
            found[f"{TRIGGER}_{table.name}_{event.lower()}"] = f'AFTER {event} ON "{table.name}"'
    return found


def _create_sqlite(connection: Connection) -> None:
    connection.execute(text(f"INSERT OR IGNORE INTO {COUNT} (id, n) VALUES (1, 0)"))
    for name, when in sqlite_triggers().items():
        connection.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        connection.execute(
            text(
                f"CREATE TRIGGER {name} {when} FOR EACH ROW BEGIN "
                f"INSERT INTO {COUNT} (id, n) VALUES (1, 1) "
                "ON CONFLICT (id) DO UPDATE SET n = n + 1; END"
            )
        )


def drop_triggers(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        for name in sqlite_triggers():
            connection.execute(text(f"DROP TRIGGER IF EXISTS {name}"))


def after_create_all(_metadata, connection: Connection, **_kw) -> None:
    """`metadata.create_all` (the tests' schema) gets the triggers too (database.py)."""
    create_triggers(connection)


class _OwnConnection:
    """A watcher's driver connection of its own, out of the pool."""

    def __init__(self):
        self.connection = None  # the driver's connection, ours until `close`
        self.live = False  # nothing changed since `begin`, and we would know

    def begin(self, engine: Engine) -> bool:
        """Ready for a batch whose recipients are read next: connect if needed, confirm
        the triggers, take note of where the count stands (`_ready`).
        False: re-check every message of this batch."""
        self.live = False
        try:
            if self.connection is None:
                self._connect(engine)
            ready = self._ready()
        except Exception as error:  # unsure means the re-check, never a stop
            log.warning("not watching for changes, re-checking each message: %s", error)
            self.close()
            return False
        self.live = ready
        return ready

    def _detach(self, engine: Engine):
        """A new driver connection, made with the app's set-up (database.py), taken out
        of the pool; rolled back, so that no transaction of the pool's is left on it."""
        raw = engine.raw_connection()
        connection = raw.driver_connection
        raw.detach()
        self.connection = connection  # closed by `close` if what follows fails
        connection.rollback()
        return connection

    def close(self) -> None:
        self.live = False
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # closing a lost connection
                pass
        self.connection = None


class SqliteWatcher(_OwnConnection):
    """A sender's own SQLite connection, in autocommit (each statement reads the latest
    commit), outside the pool; `begin` before a batch's bulk read, `quiet` before each
    message."""

    def __init__(self):
        super().__init__()
        self.version = None  # PRAGMA data_version when the count was last read
        self.count = None  # the count read at `begin`

    def _ready(self) -> bool:
        """The triggers are there; the version first, then the count, then (the caller)
        the recipients: a change committed in between is in what they read."""
        names = list(sqlite_triggers())
        marks = ", ".join("?" * len(names))
        (present,) = self.connection.execute(
            f"SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})",
            names,
        ).fetchone()
        if present != len(names):
            return False
        self.version = self._version()
        self.count = self._count()
        return self.count is not None  # no row: the triggers would count into nothing

    def quiet(self) -> bool:
        """Has nothing that rule 3 reads changed since `begin`? The count is read again
        only when another connection has committed something since it was last read."""
        if not self.live:
            return False
        try:
            version = self._version()
            if version != self.version:
                if self._count() != self.count:
                    self.live = False  # for the rest of this batch
                    return False
                self.version = version
        except Exception:  # e.g. the file went away: unsure
            self.close()
            return False
        return True

    def _connect(self, engine: Engine) -> None:
        connection = self._detach(engine)  # with the app's pragmas (database.py)
        connection.isolation_level = None  # autocommit: no snapshot held between reads

    def _version(self) -> int:
        return self.connection.execute("PRAGMA data_version").fetchone()[0]

    def _count(self) -> int | None:
        row = self.connection.execute(f"SELECT n FROM {COUNT} WHERE id = 1").fetchone()
        return None if row is None else row[0]


class Unwatched:
    """PostgreSQL, or an in-memory SQLite database: every message is re-checked."""

    live = False

    def begin(self, _engine: Engine) -> bool:
        return False

    def quiet(self) -> bool:
        return False

    def close(self) -> None:
        pass


UNWATCHED = Unwatched()
Watcher = SqliteWatcher | Unwatched


def watcher() -> Watcher:
    """A watcher for one `send_pending` (it connects at its first batch; close it after)."""
    engine = db.engine
    database = engine.url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in str(engine.url)
    if engine.dialect.name == "sqlite" and not in_memory:
        return SqliteWatcher()
    return UNWATCHED
