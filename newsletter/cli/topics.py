"""flask topics create SLUG --name NAME [--own-similar-products] | list"""

from __future__ import annotations

import re

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..extensions import db
from ..models import Topic

topics = AppGroup("topics", help="Topics (lists) people subscribe to.")


@topics.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option(
    "--own-similar-products",
    is_flag=True,
    help="About the business's own similar products: may go to existing customers.",
)
def create(slug: str, name: str, own_similar_products: bool) -> None:
    """Create a topic."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", slug):
        raise click.BadParameter("use lower-case letters, digits and dashes", param_hint="SLUG")
    if db.session.scalar(select(Topic).where(Topic.slug == slug)):
        raise click.ClickException(f"topic {slug!r} exists already")
    db.session.add(Topic(slug=slug, name=name, own_similar_products=own_similar_products))
    db.session.commit()
    click.echo(slug)


@topics.command("list")
def list_topics() -> None:
    """One topic per line: slug, name, own-similar-products flag."""
    for topic in db.session.scalars(select(Topic).order_by(Topic.id)):
        flag = "own-similar-products" if topic.own_similar_products else ""
        click.echo(f"{topic.slug}\t{topic.name}\t{flag}")


COMMANDS = [topics]
