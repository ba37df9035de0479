"""flask webhooks add URL --event KIND... | list | remove ID | log"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import audit, events, webhooks
from ..extensions import db

webhooks_group = AppGroup(
    "webhooks", help="Outgoing webhooks: signed events to your other systems (docs/API.md)."
)


@webhooks_group.command("add")
@click.argument("url")
@click.option(
    "--event",
    "kinds",
    multiple=True,
    required=True,
    type=click.Choice(events.KINDS),
    help="Repeat for several events.",
)
def add(url: str, kinds: tuple[str, ...]) -> None:
    """Add an endpoint; prints its id, then its signing secret once."""
    try:
        row, secret = webhooks.add_endpoint(url, list(kinds))
    except webhooks.WebhookError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    audit.record("cli", webhooks.AUDIT_ADD, f"webhook:{row.id}", events=row.events)
    db.session.commit()
    click.echo(row.id)
    click.echo(secret)
    click.echo("Store the secret now (it signs every request): it is not shown again.", err=True)


@webhooks_group.command("list")
def list_endpoints() -> None:
    """One endpoint per line: id, URL, events (never the secret)."""
    for row in webhooks.list_endpoints():
        click.echo(f"{row.id}\t{row.url}\t{','.join(row.events)}")


@webhooks_group.command("remove")
@click.argument("endpoint_id", type=int)
def remove(endpoint_id: int) -> None:
    """Remove an endpoint and its delivery log; nothing more is sent to it."""
    try:
        webhooks.remove_endpoint(endpoint_id)
    except webhooks.WebhookError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    audit.record("cli", webhooks.AUDIT_REMOVE, f"webhook:{endpoint_id}")
    db.session.commit()
    click.echo(f"removed {endpoint_id}")


@webhooks_group.command("log")
@click.option("--limit", type=click.IntRange(min=1), default=50)
def delivery_log(limit: int) -> None:
    """The latest deliveries: id, endpoint, event, status, attempts, code, next try, error."""
    for row in webhooks.recent_deliveries(limit):
        next_try = row.next_attempt_at.isoformat() if row.next_attempt_at else "-"
        click.echo(
            f"{row.id}\t{row.endpoint_id}\t{row.kind}\t{row.status}\t{row.attempts}\t"
            f"{row.last_status_code or '-'}\t{next_try}\t{row.last_error or ''}"
        )


COMMANDS = [webhooks_group]
