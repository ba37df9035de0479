"""flask outbox list | show ID: the built-in outbox (no SMTP server configured)."""

from __future__ import annotations

import email
import email.policy

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
@click.option("--raw", is_flag=True, help="The message exactly as it would go over SMTP.")
@click.option("--html", "html", is_flag=True, help="The HTML part instead of the text part.")
def show(message_id: int, raw: bool, html: bool) -> None:
    """Print one message: its headers and its text part, decoded (links whole)."""
    row = db.session.get(OutboxMessage, message_id)
    if row is None:
        raise click.ClickException(f"no outbox message {message_id}")
    if raw:
        click.echo(row.raw.decode("utf-8", "replace"))
        return
    message = email.message_from_bytes(row.raw, policy=email.policy.default)
    for name, value in message.items():
        click.echo(f"{name}: {' '.join(str(value).split())}")
    kind = "html" if html else "plain"
    body = message.get_body(preferencelist=(kind,))
    click.echo()
    if body is None:
        click.echo(f"(this message has no {'HTML' if html else 'text'} part)")
    else:
        click.echo(body.get_content().rstrip("\n"))
    other = "the text part: drop --html" if html else "the HTML part: --html"
    click.echo(
        f"\n(decoded for reading; {other}; as sent over SMTP: "
        f"flask outbox show {message_id} --raw)",
        err=True,
    )


COMMANDS = [outbox]
