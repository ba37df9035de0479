"""flask subscribers export EMAIL | erase EMAIL (and import, in imports.py)"""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from .. import rights, subscriptions
from ..addresses import InvalidAddressError
from ..extensions import db

subscribers = AppGroup(
    "subscribers", help="Subscribers: import, export (Art. 15), erase (Art. 17)."
)


def _find(email: str):
    try:
        subscriber = subscriptions.find_subscriber(email)
    except InvalidAddressError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from exc
    if subscriber is None:
        raise click.ClickException("no subscriber with this address")
    return subscriber


@subscribers.command("export")
@click.argument("email")
def export(email: str) -> None:
    """Print everything held about an address as JSON (GDPR Art. 15).

    For a former subscriber: what is still kept under the keyed hash of the address
    (consent events, suppression and objection rows, rights requests), with a note that
    nothing else is held."""
    try:
        data = rights.request_access(email, channel="cli")
    except InvalidAddressError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from exc
    db.session.commit()
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@subscribers.command("erase")
@click.argument("email")
def erase(email: str) -> None:
    """Erase one subscriber exactly as an opt-out does (GDPR Art. 17)."""
    rights.request_erasure(_find(email), channel="cli")
    db.session.commit()
    click.echo("erased")


COMMANDS = [subscribers]
