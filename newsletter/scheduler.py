"""The periodic-job scheduler hosted by `flask worker` and by `flask run`'s embedded worker
(APScheduler 3; newsletter/embedded.py).

Never started by `create_app` itself. Every worker schedules every job of `jobs.JOBS` at its
interval; a lease row per job in `JobLease` makes one worker, and only one, run it per
period, even when several workers on several machines share one PostgreSQL database.

The lease is taken by one atomic UPDATE in its own short transaction:

    UPDATE job_lease SET holder=me, leased_until=now+hold, last_run_at=now
    WHERE name=job AND (leased_until IS NULL OR leased_until < now)
                   AND (last_run_at IS NULL OR last_run_at <= now - period + slack)

Under PostgreSQL's READ COMMITTED a second worker's UPDATE waits for the first one's
row lock and then re-checks the WHERE clause against the committed row, so it matches
nothing. `leased_until` keeps a job from running twice at once and lets another worker
take over when the holder died (after `hold`); `last_run_at` makes it once per period.
`flask jobs run-due` does not use leases: it runs everything once, on purpose.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import UTC, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite

from . import jobs
from .clock import utcnow
from .extensions import db
from .models import JobLease

log = logging.getLogger(__name__)

# How long a running job is protected before a silent holder is presumed dead.
MIN_HOLD = timedelta(minutes=10)


def worker_id() -> str:
    """A name for this worker process, unique across machines (kept in the lease)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _slack(every: timedelta) -> timedelta:
    # Scheduler ticks arrive a few milliseconds late; without slack a worker whose tick
    # lands just before the previous run's anniversary would skip a whole period.
    return min(every / 10, timedelta(seconds=30))


def _ensure_lease_row(connection, name: str) -> None:
    dialect = connection.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    connection.execute(insert(JobLease).values(name=name).on_conflict_do_nothing())


def acquire_lease(name: str, holder: str, every: timedelta) -> bool:
    """Take the job's lease for this period; False when another worker has it or ran it."""
    now = utcnow()
    lease = JobLease.__table__
    with db.engine.begin() as connection:
        _ensure_lease_row(connection, name)
    with db.engine.begin() as connection:
        result = connection.execute(
            update(lease)
            .where(
                lease.c.name == name,
                or_(lease.c.leased_until.is_(None), lease.c.leased_until < now),
                or_(
                    lease.c.last_run_at.is_(None),
                    lease.c.last_run_at <= now - every + _slack(every),
                ),
            )
            .values(holder=holder, leased_until=now + max(every, MIN_HOLD), last_run_at=now)
        )
    return result.rowcount == 1


def release_lease(name: str, holder: str) -> None:
    """Let the lease go after a run (the period guard in `last_run_at` stays)."""
    lease = JobLease.__table__
    with db.engine.begin() as connection:
        connection.execute(
            update(lease)
            .where(lease.c.name == name, lease.c.holder == holder)
            .values(holder=None, leased_until=None)
        )


def run_leased(app: Flask, name: str, holder: str) -> bool:
    """Run one job if this worker gets its lease; True when it ran (or tried to)."""
    job = jobs.JOBS[name]
    with app.app_context():
        if not acquire_lease(name, holder, job.every):
            log.debug("job %s: not due here (leased or already run this period)", name)
            return False
        try:
            jobs.run_job(name, utcnow())
        except Exception:
            db.session.rollback()
            log.exception("job %s failed; it is retried next period", name)
        finally:
            release_lease(name, holder)
    return True


def start_scheduler(app: Flask, holder: str | None = None) -> BackgroundScheduler:
    """Start the periodic jobs in the background of a worker; returns the scheduler.

    Each job fires once at start (a due purge should not wait a day after a restart) and
    then at its interval; the lease decides whether this worker actually runs it. Call
    `scheduler.shutdown()` when the worker stops.
    """
    holder = holder or worker_id()
    # APScheduler logs each run at INFO ("Running job", "executed successfully"): every
    # minute in `flask run`'s console. The jobs log what they touched themselves.
    aps_log = logging.getLogger("apscheduler")
    if aps_log.level == logging.NOTSET:
        aps_log.setLevel(logging.WARNING)
    scheduler = BackgroundScheduler(timezone=UTC)
    for job in jobs.JOBS.values():
        scheduler.add_job(
            run_leased,
            IntervalTrigger(seconds=job.every.total_seconds(), timezone=UTC),
            args=(app, job.name, holder),
            id=job.name,
            name=job.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,  # late (busy worker) is better than skipped
            next_run_time=utcnow(),
        )
    scheduler.start()
    log.info("scheduler started as %s with %d jobs", holder, len(jobs.JOBS))
    return scheduler
