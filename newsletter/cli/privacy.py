"""flask privacy record | consent-register | suppression-report | breach-log.

What a supervisory authority asks an SME for: the record of processing (GDPR Art. 30),
the consent register of every active subscriber (Art. 7(1)), the suppression report
(counts, no addresses) and the breach log (Art. 33(5)). The consent register holds
addresses, so its export is written to the audit log (without them).
"""

from __future__ import annotations

import json
from dataclasses import asdict

import click
from flask import current_app
from flask.cli import AppGroup

from .. import audit, breaches, records, reports
from ..extensions import db

privacy = AppGroup("privacy", help="Records for the regulator (GDPR Art. 30, 7(1), 33(5)).")


@privacy.command("record")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
def record(fmt: str) -> None:
    """Print the record of processing activities, from the live configuration."""
    built = records.build_record(current_app.config)
    if fmt == "json":
        click.echo(json.dumps(records.as_dict(built), indent=2, ensure_ascii=False))
    else:
        click.echo(records.render_markdown(built), nl=False)


@privacy.command("consent-register")
@click.option("--output", type=click.File("w", encoding="utf-8"), default="-", help="CSV file")
def consent_register(output) -> None:
    """Every active subscriber's basis and consent evidence, as CSV (audit-logged)."""
    count = reports.active_subscriber_count()
    audit.record("cli", reports.AUDIT_CONSENT_REGISTER, "", subscribers=count, format="csv")
    db.session.commit()
    for line in reports.consent_register_lines():
        output.write(line)


@privacy.command("suppression-report")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
def suppression_report(fmt: str) -> None:
    """Suppressions counted by month, reason and channel (no addresses, no hashes)."""
    report = reports.suppression_report()
    audit.record("cli", reports.AUDIT_SUPPRESSION_REPORT, "", rows=len(report))
    db.session.commit()
    if fmt == "json":
        rows = [
            {**asdict(r), "first": r.first.isoformat(), "last": r.last.isoformat()} for r in report
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    for line in reports.suppression_report_lines(report):
        click.echo(line, nl=False)


@privacy.command("breach-log")
def breach_log() -> None:
    """The breach log as CSV, oldest entry first (entries are added in the admin)."""
    audit.record("cli", breaches.AUDIT_EXPORT, "")
    db.session.commit()
    for line in breaches.csv_lines():
        click.echo(line, nl=False)


COMMANDS = [privacy]
