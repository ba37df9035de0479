"""flask campaign create [--locale] | translate ID | duplicate ID | send ID [--wait] |
schedule ID --at DATE | cancel ID | status ID"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from .. import campaign_versions, clock
from .. import campaigns as domain
from ..extensions import db
from ..models import Campaign, Topic
from .send_wait import SendHelpers, send_here, send_processes  # noqa: F401

campaign = AppGroup("campaign", help="Compose, send, schedule campaigns and follow them.")


def _campaign(campaign_id: int) -> Campaign:
    row = db.session.get(Campaign, campaign_id)
    if row is None:
        raise click.ClickException(f"no campaign {campaign_id}")
    return row


def _fail(exc: Exception):
    db.session.rollback()
    raise click.ClickException(str(exc)) from exc


def _body(body_file: Path) -> str:
    try:
        return body_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.BadParameter("the file is not UTF-8 text", param_hint="--body-file") from exc


def _locale(value: str | None) -> str | None:
    """`--locale` as an offered language; a clear error naming them otherwise."""
    if value is None:
        return None
    try:
        return campaign_versions.require_locale(value)
    except domain.CampaignError as exc:
        raise click.BadParameter(str(exc), param_hint="--locale") from exc


BODY_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
LOCALE_HELP = "The language of this text (nl, fr, en, ...; default: the default language)."


@campaign.command("create")
@click.option("--subject", required=True)
@click.option("--body-file", required=True, type=BODY_FILE, help="The body, in Markdown (UTF-8).")
@click.option("--topic", "topic_slug", required=True, help="Slug of the list it goes to.")
@click.option("--preheader", default="")
@click.option("--locale", default=None, help=LOCALE_HELP)
def create(subject: str, body_file: Path, topic_slug: str, preheader: str, locale) -> None:
    """Create a draft campaign and print its id."""
    language = _locale(locale)
    topic = db.session.scalar(select(Topic).where(Topic.slug == topic_slug))
    if topic is None:
        raise click.BadParameter(f"no topic {topic_slug!r}", param_hint="--topic")
    body = _body(body_file)
    try:
        row = domain.create_campaign(
            subject, body, topic, preheader, created_by="cli", locale=language
        )
    except domain.CampaignError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(row.id)


@campaign.command("translate")
@click.argument("campaign_id", type=int)
@click.option("--locale", required=True, help="The language of this version (nl, fr, en, ...).")
@click.option("--subject", required=True)
@click.option("--body-file", required=True, type=BODY_FILE, help="The body, in Markdown (UTF-8).")
@click.option("--preheader", default="")
def translate(campaign_id: int, locale: str, subject: str, body_file: Path, preheader: str):
    """Add or replace a campaign's version in one language. Each recipient gets the
    version in their language, else the default language's."""
    language = _locale(locale)
    row = _campaign(campaign_id)
    body = _body(body_file)
    try:
        domain.translate_campaign(row, language, subject, body, preheader)
    except domain.CampaignError as exc:
        _fail(exc)
    db.session.commit()
    have = ", ".join(campaign_versions.versions(row))
    click.echo(f"campaign {row.id}: {language} version saved (versions: {have})")


@campaign.command("duplicate")
@click.argument("campaign_id", type=int)
def duplicate(campaign_id: int) -> None:
    """Copy a campaign (any status) into a new draft with all its versions; print its id."""
    copy = domain.duplicate_campaign(_campaign(campaign_id), created_by="cli")
    db.session.commit()
    click.echo(copy.id)


@campaign.command("send")
@click.argument("campaign_id", type=int)
@click.option("--wait", is_flag=True, help="Send it now in the foreground, then report.")
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    help="With --wait: sending processes (default: NEWSLETTER_SEND_PROCESSES, or one per CPU).",
)
def send(campaign_id: int, wait: bool, processes: int | None) -> None:
    """Queue a campaign for the workers (or, with --wait, send it here)."""
    row = _campaign(campaign_id)
    # Helpers start up (about a second each) while the recipients are being queued.
    helpers = SendHelpers(row, processes or send_processes()) if wait else None
    try:
        total = domain.start_sending(row)
    except domain.CampaignError as exc:
        if helpers is not None:
            helpers.cancel()
        _fail(exc)
    db.session.commit()
    click.echo(f"campaign {row.id}: {total} recipients queued")
    if helpers is not None:
        send_here(row, total, helpers)


@campaign.command("schedule")
@click.argument("campaign_id", type=int)
@click.option(
    "--at",
    "at",
    required=True,
    help="ISO date/time; without an offset it is local time (NEWSLETTER_TIMEZONE).",
)
def schedule(campaign_id: int, at: str) -> None:
    """Send a campaign at a given time (the jobs start it then)."""
    try:
        moment = clock.parse_local(at)  # naive: TIMEZONE (issue 15); with an offset: as given
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO date: {at}", param_hint="--at") from exc
    row = _campaign(campaign_id)
    try:
        domain.schedule_campaign(row, moment)
    except domain.CampaignError as exc:
        _fail(exc)
    db.session.commit()
    local = clock.format_local(moment, kind="admin")
    click.echo(f"campaign {row.id} scheduled for {moment.isoformat()} ({local})")


@campaign.command("cancel")
@click.argument("campaign_id", type=int)
def cancel(campaign_id: int) -> None:
    """Stop a scheduled or sending campaign."""
    row = _campaign(campaign_id)
    try:
        domain.cancel_campaign(row)
    except domain.CampaignError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"campaign {row.id} cancelled")


@campaign.command("status")
@click.argument("campaign_id", type=int)
def status(campaign_id: int) -> None:
    """Print a campaign's status and counts as JSON."""
    click.echo(json.dumps(domain.campaign_status(_campaign(campaign_id))))


COMMANDS = [campaign]
