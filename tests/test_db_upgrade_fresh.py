"""`flask db upgrade` on a new SQLite file, as README's deploy steps run it: the command
creates the database itself, once, without the automatic upgrade of a new file running
first and printing "Created a new database… Next: …" before its own output. Any other
command on a new instance still creates the database and says what to do next.

Each test runs the real `flask` command in a fresh instance folder
(NEWSLETTER_INSTANCE_PATH) with the default configuration.
"""

from __future__ import annotations

import sqlite3

from tests.flask_process import clean_env, flask


def _run(tmp_path, *args: str) -> str:
    env = clean_env(NEWSLETTER_INSTANCE_PATH=str(tmp_path / "instance"))
    log = tmp_path / f"run-{len(list(tmp_path.glob('run-*.log')))}.log"  # one per run
    with flask(list(args), env, log) as process:
        assert process.wait(120) == 0, log.read_text()
    return log.read_text()


def _head_revision(tmp_path) -> str:
    with sqlite3.connect(tmp_path / "instance" / "newsletter.db") as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_flask_db_upgrade_on_a_new_sqlite_file_creates_it_once_and_quietly(tmp_path):
    output = _run(tmp_path, "db", "upgrade")
    assert "Created a new database" not in output
    assert "Next: create the first admin" not in output
    assert output.count("Running upgrade  -> 0001") == 1  # the migrations ran once
    assert "Traceback" not in output
    revision = _head_revision(tmp_path)
    # Run again (every release): nothing to do, nothing printed about a new database.
    again = _run(tmp_path, "db", "upgrade")
    assert "Running upgrade" not in again
    assert "Created a new database" not in again
    assert _head_revision(tmp_path) == revision
    # The next step of README works on that database.
    topics = _run(tmp_path, "topics", "list")
    assert topics.startswith("newsletter")


def test_another_command_on_a_new_instance_still_creates_the_database_and_says_next(tmp_path):
    output = _run(tmp_path, "topics", "list")
    assert "Created a new database at" in output
    assert "Next: create the first admin with  flask admin create you@example.org" in output
    assert output.rstrip().endswith("Newsletter")  # the command's own output follows
    assert _head_revision(tmp_path)
