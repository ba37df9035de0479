"""Periodic jobs: each thin, idempotent, committing its own work, logging what it touched.

`flask jobs run-due` runs every job once and then sends, in the foreground, the mail that
is due (cron-only hosting, tests, `--as-of` what-ifs); `flask worker` and the embedded
worker of `flask run` run them on a schedule. Register a job with `@job(name, every=...)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from . import imports, reconsent, retention, subscriptions
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
    # Most runs touch nothing (a minute's scheduled campaigns): keep the log for real work.
    log.log(logging.INFO if touched else logging.DEBUG, "job %s touched %s", name, touched)
    return touched


def run_due(now: datetime, send: bool = True) -> dict:
    """Run every job once, in registration order, then (with `send`) send in the
    foreground every delivery that is due now: queued ones (scheduled campaigns the
    jobs just started, campaigns sent from the admin) and deferred ones whose retry
    time has come. Returns when nothing is left to try now; later retries wait for a
    later run.

    The report: each job's count, "sending" (how many sent, deferred, failed, skipped)
    and, when a job failed, "failed" (job name -> reason). A failing job is logged and
    rolled back; the other jobs and the sending still run (cron-only hosting must not
    stop delivering because, say, the bounce mailbox is down).

    No job leases: it runs everything once, on purpose. Deliveries are claimed as any
    worker claims them, so a run beside workers, or an overlapping cron run, never
    sends a message twice.
    """
    report: dict = {}
    failed: dict[str, str] = {}
    for name in JOBS:
        try:
            report[name] = run_job(name, now)
        except Exception as exc:
            db.session.rollback()
            log.exception("job %s failed", name)
            failed[name] = f"{type(exc).__name__}: {exc}"[:300]
    if send:
        report["sending"] = send_due()
    if failed:
        report["failed"] = failed
    return report


def send_due() -> dict[str, int]:
    """Send, here and now, every delivery that is due (as a worker would); the counts."""
    from . import sending

    counts = sending.send_pending(f"run-due:{sending.new_worker_id()}"[:100], until_idle=True)
    return {key: counts.get(key, 0) for key in ("sent", "deferred", "failed", "skipped")}


# --- subscriber lifecycle ----------------------------------------------------------------


@job("purge-unconfirmed", every=timedelta(hours=1))
def purge_unconfirmed(now: datetime) -> int:
    """Delete signups not confirmed within NEWSLETTER_CONFIRM_MAX_AGE_HOURS."""
    return subscriptions.purge_unconfirmed(now, current_app.config["CONFIRM_MAX_AGE_HOURS"])


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

# Re-consent and the customer basis run hourly: a lapse must stop mail promptly. Each
# works in batches, committing after each one, until nothing is left.
BATCH = 200


def _in_batches(step: Callable[[], int]) -> int:
    """Call `step()` (which returns what it handled, at most BATCH) until it runs dry."""
    total = 0
    while True:
        handled = step()
        db.session.commit()
        total += handled
        if handled < BATCH:
            return total


@job("reconsent-requests", every=timedelta(hours=1))
def request_reconsent(now: datetime) -> int:
    """Ask once for renewed consent when it is older than RECONSENT_INTERVAL_DAYS."""
    days = current_app.config["RECONSENT_INTERVAL_DAYS"]
    return _in_batches(lambda: reconsent.request_due(now, days, BATCH))


@job("reconsent-lapses", every=timedelta(hours=1))
def erase_lapsed_reconsent(now: datetime) -> int:
    """Erase subscribers who left a re-consent request unanswered for the grace period."""
    days = current_app.config["RECONSENT_GRACE_DAYS"]
    return _in_batches(lambda: reconsent.erase_lapsed(now, days, BATCH))


@job("customer-basis-lapses", every=timedelta(hours=1))
def end_customer_basis(now: datetime) -> int:
    """End existing-customer subscriptions CUSTOMER_BASIS_DAYS after the last purchase."""
    days = current_app.config["CUSTOMER_BASIS_DAYS"]
    return _in_batches(lambda: reconsent.end_lapsed_customer_basis(now, days, BATCH))


@job("retention-deliveries", every=timedelta(days=1))
def purge_deliveries(now: datetime) -> int:
    """Delivery records older than DELIVERY_RETENTION_DAYS become campaign counts."""
    return retention.purge_deliveries(now, current_app.config)


@job("retention-audit-log", every=timedelta(days=1))
def purge_audit_log(now: datetime) -> int:
    """Delete audit entries older than AUDIT_RETENTION_DAYS."""
    return retention.purge_audit_log(now, current_app.config)


@job("retention-outbox", every=timedelta(days=1))
def purge_outbox(now: datetime) -> int:
    """Delete outbox mails older than OUTBOX_RETENTION_DAYS."""
    return retention.purge_outbox(now, current_app.config)


@job("retention-consent-evidence", every=timedelta(days=1))
def purge_consent_evidence(now: datetime) -> int:
    """Delete consent records of people gone for CONSENT_EVIDENCE_RETENTION_DAYS."""
    return retention.purge_consent_evidence(now, current_app.config)


@job("retention-rights-requests", every=timedelta(days=1))
def purge_rights_requests(now: datetime) -> int:
    """Delete rights-request log entries older than RIGHTS_REQUEST_RETENTION_DAYS."""
    return retention.purge_rights_requests(now, current_app.config)


# --- imports -------------------------------------------------------------------------------


@job("purge-import-uploads", every=timedelta(hours=1))
def purge_import_uploads(now: datetime) -> int:
    """Delete uploaded import files left unconfirmed for more than an hour (personal data)."""
    return imports.purge_stale_uploads(now - timedelta(hours=1))


# --- bounces and complaints (hardening) ---------------------------------------------------


@job("poll-bounce-mailbox", every=timedelta(minutes=5))
def poll_bounce_mailbox(now: datetime) -> int:
    """Read bounce and complaint reports from BOUNCE_MAILBOX_* (nothing when unset)."""
    from . import bounce_mailbox

    try:
        return sum(bounce_mailbox.poll_mailbox().values())
    except bounce_mailbox.MailboxError as exc:  # the other jobs still run; the next poll retries
        log.warning("bounce mailbox not read: %s", exc)
        return 0


# --- outgoing webhooks (issue 16) ---------------------------------------------------------


@job("webhook-deliveries", every=timedelta(minutes=1))
def deliver_webhooks(now: datetime) -> int:
    """Post the queued webhook events whose (re)try time has come (after their commit)."""
    from . import webhooks

    return webhooks.deliver_due(now)


@job("retention-webhook-log", every=timedelta(days=1))
def purge_webhook_log(now: datetime) -> int:
    """Delete webhook deliveries older than WEBHOOK_LOG_RETENTION_DAYS (not pending ones)."""
    from . import webhooks

    return webhooks.purge_log(now, current_app.config)
