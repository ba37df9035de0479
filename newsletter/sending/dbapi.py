"""The sender's hottest statements, compiled once and run on the session's DBAPI connection.

For a statement that SQLite answers in about 10 microseconds, SQLAlchemy's work around
it (an execution context, each parameter and each row processed through the type
system, the result object) costs several times as much; the sender runs one such
statement per message and one row update per message. Here a statement stays a
SQLAlchemy construct (one definition, the dialect's SQL, the columns' own type
conversions), compiled once per engine; only the execution skips `Connection.execute`.

It runs on the connection `db.session` holds, inside the session's transaction, so it
sees and makes exactly what an ORM query would. When the driver raises, the statement
is run once more through SQLAlchemy: callers see SQLAlchemy's exceptions, and a dead
connection is invalidated as usual (the send loop's recovery depends on both).
"""

from __future__ import annotations

import collections
import weakref

from sqlalchemy import Engine

from ..extensions import db


class Prepared:
    """One statement compiled for one dialect, with its parameter and column conversions.

    `sample` holds a value for every bind parameter the caller will supply (only the
    names matter); constants bound inside the statement are taken from the compilation.
    """

    def __init__(self, statement, engine: Engine, sample: dict):
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        self.statement = statement
        self.sql = compiled.string
        self.constants = compiled.construct_params(sample)
        self.order = compiled.positiontup if compiled.positional else None
        unnamed = set(self.order or ()) - set(self.constants)
        if unnamed:  # e.g. `.values(x=None)`: bind NULL as `null()`, or name the parameter
            raise ValueError(f"parameters without a usable name: {sorted(unnamed)}")
        self.to_db = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect))
        }
        self.row = None
        if hasattr(statement, "selected_columns"):
            columns = statement.selected_columns
            self.row = collections.namedtuple("Row", columns.keys())
            self.from_db = [
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in columns
            ]
        self.driver_error = dialect.loaded_dbapi.Error

    def _params(self, values: dict):
        params = {**self.constants, **values}
        for name, processor in self.to_db.items():
            params[name] = processor(params[name])
        return params if self.order is None else tuple(params[name] for name in self.order)

    def rows(self, values: dict) -> list:
        """Every row (named tuples, values converted as SQLAlchemy would)."""
        connection = db.session.connection()
        try:
            cursor = _cursor(connection.connection)
            cursor.execute(self.sql, self._params(values))
            found = cursor.fetchall()
        except self.driver_error:
            return list(connection.execute(self.statement, values))
        convert, row = self.from_db, self.row
        return [row(*(c(v) if c else v for c, v in zip(convert, r, strict=True))) for r in found]

    def execute_many(self, rows: list[dict]) -> None:
        """Run the statement once per parameter set (an executemany)."""
        if not rows:
            return
        connection = db.session.connection()
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(self.sql, [self._params(row) for row in rows])
        except self.driver_error:
            connection.execute(self.statement, rows)
        finally:
            cursor.close()


def _cursor(fairy):
    """One cursor a DBAPI connection, kept in the pool's `info` for that connection
    (which SQLAlchemy clears when the connection is replaced). Making and closing a
    psycopg cursor for each re-check cost about 16 us of the worker's CPU (98 against
    82 us a re-check, docs/PERFORMANCE.md session 6)."""
    raw = fairy.dbapi_connection
    kept = fairy.info.get("newsletter_cursor")
    if kept is None or kept[0] is not raw:
        kept = fairy.info["newsletter_cursor"] = (raw, raw.cursor())
    return kept[1]


_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def prepared(make_statement, sample: dict) -> Prepared:
    """`Prepared(make_statement(), ...)` for the current engine, made once and kept."""
    engine = db.engine
    per_engine = _cache.setdefault(engine, {})
    found = per_engine.get(make_statement)
    if found is None:
        found = per_engine[make_statement] = Prepared(make_statement(), engine, sample)
    return found
