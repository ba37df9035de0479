"""The database tells the senders when who-may-get-mail changed (rule 3).

The per-message re-check (`recipients.still_lawful`) is a query for every message. Both
databases keep the same guarantee with fewer: triggers on each table that re-check reads
(subscriber, subscription, topic, suppression) record every committed change, whatever
wrote it (the app, an import, the API, an operator's psql or sqlite3), and before each
message the sender asks, for a few microseconds, whether any was recorded since the
batch's recipients were read. While none was, nothing rules 1 and 3 read of them has
changed (rule 1 reads no clock: a lapsed consent is a deleted row, `reconsent`), so the
message goes with what was read. Once one was, every remaining message of the batch is
re-checked against the database as before; the next batch reads afresh.

- PostgreSQL (`PostgresWatcher`): the triggers NOTIFY the `CHANNEL` as the change
  commits; each `send_pending` (a worker's, a thread's) LISTENs on a connection of its
  own, idle outside any transaction, and reads that socket without waiting (a `recv`,
  no round trip). The notification arrives a few microseconds after the COMMIT returned
  (docs/SENDING.md gives the measured delay).
- SQLite (`SqliteWatcher`): the triggers add one to the single row of
  `recipient_change_count` in the changing transaction; the sender's own connection
  asks `PRAGMA data_version`, which changes when any other connection committed
  anything (about 4 us, no query), and reads the count again only then. Synchronous:
  a change whose COMMIT returned is seen by the next message.

Anything unsure falls back to the re-check for every message: the triggers missing or
disabled (checked before each batch), the count's row missing, the watching connection
lost, an in-memory SQLite database (a second connection would be another database).
"""

from __future__ import annotations

import logging

from psycopg.pq import ConnStatus
from sqlalchemy import Connection, Engine, text

from ..extensions import db
from ..models import RecipientChangeCount, Subscriber, Subscription, Suppression, Topic

log = logging.getLogger(__name__)

CHANNEL = "newsletter_recipients_changed"
TRIGGER = "newsletter_recipients_changed"
# What each watched table's trigger fires on: the inserts that cannot make anybody
# unlawful (a new subscriber, subscription or topic) are left out, or every signup during
# a send would turn the fast path off for the batch.
WATCHED = {
    Subscriber.__table__: "UPDATE OR DELETE OR TRUNCATE",
    Subscription.__table__: "UPDATE OR DELETE OR TRUNCATE",
    Topic.__table__: "UPDATE OR DELETE OR TRUNCATE",
    Suppression.__table__: "INSERT OR UPDATE OR DELETE OR TRUNCATE",
}


def create_triggers(connection: Connection) -> None:
    """Install (or replace) the triggers (and PostgreSQL's function).

    Called by migration 0017 and after `metadata.create_all` (the tests' schema)."""
    if connection.dialect.name == "postgresql":
        _create_postgresql(connection)
    elif connection.dialect.name == "sqlite":
        _create_sqlite(connection)


def _create_postgresql(connection: Connection) -> None:
    connection.execute(
        text(
            f"CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME); RETURN NULL; END $$"
        )
    )
    for table, events in WATCHED.items():
        connection.execute(text(f'DROP TRIGGER IF EXISTS {TRIGGER} ON "{table.name}"'))
        connection.execute(
            text(
                f'CREATE TRIGGER {TRIGGER} AFTER {events} ON "{table.name}" '
                f"FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER}()"
            )
        )


COUNT = RecipientChangeCount.__table__.name


def sqlite_triggers() -> dict[str, str]:
    """SQLite's triggers, by name: one an event (SQLite has one event a trigger and no
    TRUNCATE: a DELETE without WHERE fires row triggers too), each a row of the count."""
    found = {}
    for table, events in WATCHED.items():
        for event in events.split(" OR "):
            if event != "TRUNCATE":
                name = f"{TRIGGER}_{table.name}_{event.lower()}"
                found[name] = f'AFTER {event} ON "{table.name}"'
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
    if connection.dialect.name != "postgresql":
        return
    for table in WATCHED:
        connection.execute(text(f'DROP TRIGGER IF EXISTS {TRIGGER} ON "{table.name}"'))
    connection.execute(text(f"DROP FUNCTION IF EXISTS {TRIGGER}()"))


def after_create_all(_metadata, connection: Connection, **_kw) -> None:
    """`metadata.create_all` (the tests' schema) gets the triggers too (database.py)."""
    create_triggers(connection)


# Enabled ('O' origin, 'A' always) triggers of ours on the watched tables.
_TRIGGERS_PRESENT = (
    "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    "WHERE t.tgname = %s AND t.tgenabled IN ('O', 'A') AND c.relname = ANY(%s) "
    "AND pg_catalog.pg_table_is_visible(c.oid)"
)


class _OwnConnection:
    """What both watchers share: a driver connection of their own, out of the pool."""

    def __init__(self):
        self.connection = None  # the driver's connection, ours until `close`
        self.live = False  # nothing changed since `begin`, and we would know

    def begin(self, engine: Engine) -> bool:
        """Ready for a batch whose recipients are read next: (re)connect if needed,
        confirm the triggers, take note of where the record stands (`_ready`).
        False: re-check every message of this batch."""
        self.live = False
        try:
            if self.connection is None or getattr(self.connection, "closed", False):
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


class PostgresWatcher(_OwnConnection):
    """A sender's listening connection; `begin` before a batch's bulk read,
    `quiet` before each message."""

    def _ready(self) -> bool:
        """The triggers are there and enabled; what arrived so far is forgotten."""
        names = [table.name for table in WATCHED]
        (present,) = self.connection.execute(_TRIGGERS_PRESENT, (TRIGGER, names)).fetchone()
        if present != len(WATCHED):
            return False
        self._drain()  # last: whatever commits from now on arrives before `quiet`
        return True

    def quiet(self) -> bool:
        """Has nothing that rule 3 reads changed since `begin`? Reads the socket, no wait."""
        if not self.live:
            return False
        pgconn = self.connection.pgconn
        try:
            pgconn.consume_input()
        except Exception:  # the connection is lost: unsure
            self.close()
            return False
        if pgconn.status != ConnStatus.OK:  # e.g. its server process was terminated
            self.close()
            return False
        if pgconn.notifies() is not None:
            self.live = False  # for the rest of this batch
        return self.live

    def _connect(self, engine: Engine) -> None:
        connection = self._detach(engine)
        connection.autocommit = True
        connection.execute(f"LISTEN {CHANNEL}")

    def _drain(self) -> None:
        pgconn = self.connection.pgconn
        pgconn.consume_input()
        while pgconn.notifies() is not None:
            pass


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
    """An in-memory SQLite database, or another database: every message is re-checked."""

    live = False

    def begin(self, _engine: Engine) -> bool:
        return False

    def quiet(self) -> bool:
        return False

    def close(self) -> None:
        pass


UNWATCHED = Unwatched()
Watcher = PostgresWatcher | SqliteWatcher | Unwatched


def watcher() -> Watcher:
    """A watcher for one `send_pending` (it connects at its first batch; close it after)."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        return PostgresWatcher()
    database = engine.url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in str(engine.url)
    if engine.dialect.name == "sqlite" and not in_memory:
        return SqliteWatcher()
    return UNWATCHED
