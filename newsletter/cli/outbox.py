"""flask outbox list | show ID: the built-in outbox (no SMTP server configured)."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from ..models import OutboxMessage

outbox = AppGroup("outbox", help="Mail kept by the built-in outbox.")


@outbox.command("list")
@click.option("--limit", default=50, show_default=True)
def list_messages(limit: int) -> None:
    """The newest messages, one per line: id, time, recipient, subject."""
    rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit))
    for row in rows:
        click.echo(f"{row.id}\t{row.created_at:%Y-%m-%d %H:%M}\t{row.recipient}\t{row.subject}")


@outbox.command("show")
@click.argument("message_id", type=int)
def show(message_id: int) -> None:
    """Print one message as it would have gone over SMTP."""
    row = db.session.get(OutboxMessage, message_id)
    if row is None:
        raise click.ClickException(f"no outbox message {message_id}")
    click.echo(row.raw.decode("utf-8", "replace"))


COMMANDS = [outbox]
