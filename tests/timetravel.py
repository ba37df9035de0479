"""Helpers of the time-based tests: move time, run a job, look for an address anywhere."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import time_machine
from sqlalchemy import select

from newsletter import clock, jobs
from newsletter.extensions import db


@contextmanager
def at(moment: datetime):
    """Move every clock (ours, `time.time()` used by itsdangerous) to `moment`."""
    with time_machine.travel(moment, tick=False):
        yield


def run_job(name: str, moment: datetime) -> int:
    """Run one job as the scheduler would at `moment`."""
    with at(moment):
        return jobs.run_job(name, clock.utcnow())


def rows_mentioning(text: str) -> list[str]:
    """Every table row whose values contain `text` (str, JSON or bytes)."""
    db.session.expire_all()
    found = []
    needle = text.encode()
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)):
            for value in row:
                raw = value if isinstance(value, bytes) else str(value).encode()
                if needle in raw:
                    found.append(f"{table.name}: {row}")
    return found


def sqlite_files_mentioning(app, text: str) -> list[str]:
    """The SQLite database file and its WAL, when they contain `text` (empty on PostgreSQL)."""
    url = db.engine.url
    if url.get_backend_name() != "sqlite":
        return []
    # The connections stay open, as in a running app: the erasure's own checkpoint must
    # have emptied the WAL.
    base = Path(url.database)
    files = [base, base.with_name(base.name + "-wal")]
    return [str(f) for f in files if f.exists() and text.encode() in f.read_bytes()]
