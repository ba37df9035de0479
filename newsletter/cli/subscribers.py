"""flask subscribers export EMAIL | erase EMAIL | export-list (and import, in imports.py)"""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup
from sqlalchemy import select

from .. import audit, list_export, rights, subscriptions
from ..addresses import InvalidAddressError
from ..extensions import db
from ..models import Basis, Topic

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


# --- export-list (issue 16): the whole list, or one topic, re-importable ---------------------


@subscribers.command("export-list")
@click.option("--topic", "topic_slug", default=None, help="Only this topic's subscribers.")
@click.option(
    "--format", "fmt", type=click.Choice(list_export.FORMATS), default="csv", show_default=True
)
@click.option(
    "--basis",
    type=click.Choice(Basis.ALL),
    default=None,
    help="Only this basis (the import takes one basis per run). Default: both.",
)
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True), default="-", help="Default: stdout."
)
def export_list(topic_slug: str | None, fmt: str, basis: str | None, output: str) -> None:
    """Print the active subscribers (or one topic's) with their consent evidence, in the
    columns `flask subscribers import` reads (docs/IMPORTS.md). Audit-logged: how many
    rows, which topic, never an address."""
    topic = None
    if topic_slug is not None:
        topic = db.session.scalar(select(Topic).where(Topic.slug == topic_slug))
        if topic is None:
            raise click.ClickException(f"no topic with the slug {topic_slug!r}")
    counted = _Counter(list_export.rows(topic, basis))
    writer = list_export.csv_lines if fmt == "csv" else list_export.json_lines
    if output == "-":
        for text in writer(counted):
            click.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8", newline="") as out:
            for text in writer(counted):
                out.write(text)
    audit.record(
        "cli",
        list_export.AUDIT_ACTION,
        topic_slug or "",
        rows=counted.count,
        topic=topic_slug,
        basis=basis,
        format=fmt,
    )
    db.session.commit()
    if output != "-":
        click.echo(f"{counted.count} rows written to {output}", err=True)


class _Counter:
    """Counts the rows as they pass (the audit log says how many were exported)."""

    def __init__(self, items):
        self.items = items
        self.count = 0

    def __iter__(self):
        for item in self.items:
            self.count += 1
            yield item


COMMANDS = [subscribers]
