"""Periodic jobs: each thin, idempotent, committing its own work, logging what it touched.

`flask jobs run-due` runs every job once (cron, tests, `--as-of` what-ifs); `flask worker`
runs them on a schedule. Register a job with the `@job(name, every=...)` decorator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from . import subscriptions
from .extensions import db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    run: Callable[[datetime], int]


JOBS: dict[str, Job] = {}


def job(name: str, every: timedelta):
    """Register `fn(now) -> count of things touched` as a periodic job."""

    def register(fn: Callable[[datetime], int]):
        JOBS[name] = Job(name, every, fn)
        return fn

    return register


def run_job(name: str, now: datetime) -> int:
    """Run one job now and commit; returns what it reports it touched."""
    touched = JOBS[name].run(now)
    db.session.commit()
    log.info("job %s touched %s", name, touched)
    return touched


def run_due(now: datetime) -> dict[str, int]:
    """Run every job once, in registration order."""
    return {name: run_job(name, now) for name in JOBS}


# --- subscriber lifecycle ----------------------------------------------------------------


@job("purge-unconfirmed", every=timedelta(hours=1))
def purge_unconfirmed(now: datetime) -> int:
    """Delete signups not confirmed within NEWSLETTER_CONFIRM_MAX_AGE_HOURS."""
    return subscriptions.purge_unconfirmed(now, int(current_app.config["CONFIRM_MAX_AGE_HOURS"]))


# --- sending -----------------------------------------------------------------------------


@job("start-scheduled-campaigns", every=timedelta(minutes=1))
def start_scheduled_campaigns(now: datetime) -> int:
    """Scheduled campaigns whose time has come start sending (never before)."""
    from . import campaigns

    return campaigns.start_due_scheduled(now)


@job("release-expired-leases", every=timedelta(minutes=5))
def release_expired_leases(now: datetime) -> int:
    """Deliveries claimed by a worker that died go back to the queue."""
    from . import sending

    return sending.release_expired_leases(now)


@job("retry-deferred", every=timedelta(minutes=5))
def retry_deferred(now: datetime) -> int:
    """Deferred deliveries (SMTP 4xx, lost connection) whose retry time has come are queued."""
    from . import sending

    return sending.requeue_due_deferred(now)


# --- time-based compliance (re-consent, retention, scheduled campaigns) ------------------
