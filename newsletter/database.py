"""Database set-up: SQLite pragmas, secure erasure, automatic upgrade of a new SQLite file."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import Engine, event, inspect
from sqlalchemy.orm import Session

from .extensions import db
from .sending import changes

log = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten with zeros: an erased address leaves the file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _checkpoint_after_erasure(session: Session) -> None:
    """After an erasure commits, fold the WAL into the database file and empty it."""
    if not session.info.pop("secure_cleanup", False):
        return
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        with bind.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def init_database(app: Flask) -> None:
    """Hook SQLite pragmas and the post-erasure checkpoint; upgrade a new SQLite file."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite" and not event.contains(
            engine, "connect", _sqlite_pragmas
        ):
            event.listen(engine, "connect", _sqlite_pragmas)
    if not event.contains(db.metadata, "after_create", changes.after_create_all):
        event.listen(db.metadata, "after_create", changes.after_create_all)
    if not event.contains(Session, "after_commit", _checkpoint_after_erasure):
        event.listen(Session, "after_commit", _checkpoint_after_erasure)
    if app.config["AUTO_UPGRADE_SQLITE"]:
        if _loading_for_an_app_command():
            _upgrade_when_the_command_runs(app)
        else:
            _upgrade_new_sqlite(app)


def _loading_for_an_app_command() -> bool:
    """Is the app being loaded by `flask` to find one of its own commands (`flask db …`,
    `flask admin …`), before the command's name is known to us?

    Flask loads the app while the root `flask` context is current for an app command;
    built-in commands (`flask run`, `flask shell`) load it inside their own context, and
    gunicorn or the tests outside any."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.parent is None


def _upgrade_when_the_command_runs(app: Flask) -> None:
    """Upgrade a new SQLite file once `flask` looks up the command to run, unless it is
    `flask db …`: `flask db upgrade` creates the database itself, and must not find it
    created first (with the "Created a new database… Next:" lines printed before its own
    output). Flask looks app commands up on `app.cli`, an object of this app alone."""
    look_up = app.cli.get_command

    def get_command(ctx: click.Context, name: str):
        if name != "db":
            _upgrade_new_sqlite(app)  # returns at once once the file has its tables
        return look_up(ctx, name)

    app.cli.get_command = get_command


def _upgrade_new_sqlite(app: Flask) -> None:
    """A SQLite database without tables is created by running the migrations."""
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name != "sqlite":
            return
        if inspect(engine).has_table("alembic_version"):
            return
        from flask_migrate import upgrade

        upgrade(directory=str(Path(app.root_path).parent / "migrations"))
        print(
            "Created a new database at "
            f"{engine.url.database}.\n"
            "Next: create the first admin with  flask admin create you@example.org"
        )
