"""flask jobs run-due [--as-of DATE]"""

from __future__ import annotations

import json
from datetime import datetime

import click
from flask.cli import AppGroup

from .. import clock
from .. import jobs as job_registry

jobs = AppGroup(
    "jobs", help="Periodic jobs (purges, re-consent, retention, scheduled campaigns, retries)."
)


@jobs.command("run-due")
@click.option("--as-of", "as_of", help="Run as if the clock showed this ISO date/time (UTC).")
def run_due(as_of: str | None) -> None:
    """Run every due job once, send the mail that is due, and exit (cron, tests).

    The sending happens here, in the foreground: scheduled campaigns whose time has come,
    campaigns sent from the admin, and deferred messages whose retry time has come. It
    prints one JSON object: each job's count, "sending" (sent, deferred, failed, skipped)
    and "failed" (jobs that failed, with the reason; the exit status is then 1).
    """
    if as_of:
        try:
            moment = clock.as_utc(datetime.fromisoformat(as_of))
        except ValueError as exc:
            raise click.BadParameter(f"not an ISO date: {as_of}", param_hint="--as-of") from exc
        with clock.frozen(moment):
            report = job_registry.run_due(clock.utcnow())
    else:
        report = job_registry.run_due(clock.utcnow())
    click.echo(json.dumps(report))
    if report.get("failed"):
        raise SystemExit(1)


COMMANDS = [jobs]
