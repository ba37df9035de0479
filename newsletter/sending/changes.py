"""On PostgreSQL, the database tells the senders when who-may-get-mail changed (rule 3).

The per-message re-check (`recipients.still_lawful`) costs a round trip to the server for
every message. On PostgreSQL the same guarantee is kept with fewer: a trigger on each table
that re-check reads (subscriber, subscription, topic, suppression) sends a NOTIFY on the
`CHANNEL` when a transaction that changed one of them commits, whatever wrote it (the app,
an import, the API, an operator's psql). Each `send_pending` (a worker's, a thread's)
listens on a connection of its own, idle outside any transaction, so PostgreSQL delivers
the notification as the change commits; before each message the sender reads that socket
without waiting (a `recv`, no round trip). While nothing has arrived since the batch's
recipients were read, nothing rules 1 and 3 read of them has changed (rule 1 reads no
clock: a lapsed consent is a deleted row, `reconsent`), so the message goes with what was
read. Once something has arrived, every remaining message of the batch is re-checked
against the database, as on SQLite; the next batch reads afresh.

Anything unsure falls back to the re-check for every message: not PostgreSQL, the
triggers missing or disabled (checked before each batch), the listening connection lost.
docs/SENDING.md ("An opt-out during a send") gives the measured delay and the reasoning.
"""

from __future__ import annotations

import logging

from psycopg.pq import ConnStatus
from sqlalchemy import Connection, Engine, text

from ..extensions import db
from ..models import Subscriber, Subscription, Suppression, Topic

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
    """Install (or replace) the function and the triggers; PostgreSQL only.

    Called by migration 0017 and after `metadata.create_all` (the tests' schema)."""
    if connection.dialect.name != "postgresql":
        return
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


def drop_triggers(connection: Connection) -> None:
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


class Watcher:
    """A sender's listening connection; `begin` before a batch's bulk read,
    `quiet` before each message."""

    def __init__(self):
        self.connection = None  # the psycopg connection, autocommit, LISTENing
        self.live = False  # nothing changed since `begin`, and we would know

    def begin(self, engine: Engine) -> bool:
        """Ready for a batch whose recipients are read next: (re)connect if needed,
        confirm the triggers, forget what arrived so far. False: re-check every message."""
        self.live = False
        try:
            if self.connection is None or self.connection.closed:
                self._connect(engine)
            names = [table.name for table in WATCHED]
            (present,) = self.connection.execute(_TRIGGERS_PRESENT, (TRIGGER, names)).fetchone()
            if present != len(WATCHED):
                return False
            self._drain()  # last: whatever commits from now on arrives before `quiet`
        except Exception as error:  # unsure means the re-check, never a stop
            log.warning("not watching for changes, re-checking each message: %s", error)
            self.close()
            return False
        self.live = True
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
        raw = engine.raw_connection()
        connection = raw.driver_connection
        raw.detach()  # ours alone, out of the pool, until `close`
        self.connection = connection  # closed by `close` if what follows fails
        connection.rollback()
        connection.autocommit = True
        connection.execute(f"LISTEN {CHANNEL}")

    def _drain(self) -> None:
        pgconn = self.connection.pgconn
        pgconn.consume_input()
        while pgconn.notifies() is not None:
            pass

    def close(self) -> None:
        self.live = False
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # closing a lost connection
                pass
        self.connection = None


class Unwatched:
    """SQLite (or any other database): every message is re-checked."""

    live = False

    def begin(self, _engine: Engine) -> bool:
        return False

    def quiet(self) -> bool:
        return False

    def close(self) -> None:
        pass


UNWATCHED = Unwatched()


def watcher() -> Watcher | Unwatched:
    """A watcher for one `send_pending` (it connects at its first batch; close it after)."""
    return Watcher() if db.engine.dialect.name == "postgresql" else UNWATCHED
