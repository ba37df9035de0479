"""flask topics create SLUG --name NAME [--own-similar-products --product-range TEXT] | list
| translate SLUG --locale LANG --name NAME [--description TEXT]"""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from .. import topic_translations
from .. import topics as topic_rules
from ..extensions import db
from ..models import Topic
from .options import offered_language

topics = AppGroup("topics", help="Topics (lists) people subscribe to.")


@topics.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--description", default="", help="Shown to subscribers beside the topic.")
@click.option(
    "--own-similar-products",
    is_flag=True,
    help="About the business's own similar products: may go to existing customers "
    "without consent. Needs --product-range.",
)
@click.option(
    "--product-range",
    default="",
    metavar="TEXT",
    help="With --own-similar-products: the products this topic is about, in words "
    "(e.g. 'garden tools, plants and seeds sold in our shop').",
)
def create(
    slug: str, name: str, description: str, own_similar_products: bool, product_range: str
) -> None:
    """Create a topic (audit-logged)."""
    if own_similar_products and not product_range.strip():
        raise click.UsageError(
            "--own-similar-products needs --product-range TEXT: write down the products this "
            "topic is about (only products like those your customers bought may be mailed to "
            "them without consent, ePrivacy Art. 13(2)). Nothing was created."
        )
    if product_range.strip() and not own_similar_products:
        raise click.UsageError(
            "--product-range is for a topic marked --own-similar-products. Nothing was created."
        )
    try:
        topic_rules.create_topic(
            slug, name, own_similar_products, description, product_range, actor="cli"
        )
    except topic_rules.TopicError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc} Nothing was created.") from exc
    db.session.commit()
    click.echo(slug)


@topics.command("list")
def list_topics() -> None:
    """One topic per line: slug, name, own-similar-products flag, product range."""
    for topic in db.session.scalars(select(Topic).order_by(Topic.id)):
        flag = "own-similar-products" if topic.own_similar_products else ""
        line = f"{topic.slug}\t{topic.name}\t{flag}"
        click.echo(f"{line}\t{topic.product_range}" if topic.product_range else line)


@topics.command("translate")
@click.argument("slug")
@click.option("--locale", "locale", required=True, help="The language: nl, fr or en.")
@click.option("--name", required=True, help="The topic's name in that language.")
@click.option("--description", default="", help="Its description in that language.")
def translate(slug: str, locale: str, name: str, description: str) -> None:
    """Add or replace a topic's name and description in one language (audit-logged).

    Pages and mail in that language show them; a language without one shows the default
    language's, else the topic's own name."""
    topic = db.session.scalar(select(Topic).where(Topic.slug == slug))
    if topic is None:
        raise click.ClickException(f"No topic with the slug {slug!r}. Nothing was changed.")
    language = offered_language(locale)
    if not name.strip():
        raise click.BadParameter("the name cannot be empty.", param_hint="--name")
    try:
        changed = topic_translations.set_translation(topic, language, name, description, "cli")
    except topic_rules.TopicError as exc:
        db.session.rollback()
        raise click.ClickException(f"{exc} Nothing was changed.") from exc
    db.session.commit()
    click.echo(f"{slug} {language}" + ("" if changed else " (unchanged)"))


COMMANDS = [topics]
