"""flask topics create SLUG --name NAME [--own-similar-products] | list"""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from .. import topics as topic_rules
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
    try:
        topic_rules.create_topic(slug, name, own_similar_products)
    except topic_rules.TopicError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(slug)


@topics.command("list")
def list_topics() -> None:
    """One topic per line: slug, name, own-similar-products flag."""
    for topic in db.session.scalars(select(Topic).order_by(Topic.id)):
        flag = "own-similar-products" if topic.own_similar_products else ""
        click.echo(f"{topic.slug}\t{topic.name}\t{flag}")


COMMANDS = [topics]
