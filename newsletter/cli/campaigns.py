"""flask campaign create | send ID [--wait] | schedule ID --at DATE | status ID"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from .. import campaigns as domain
from .. import clock, sending
from ..extensions import db
from ..models import Campaign, Topic

campaign = AppGroup("campaign", help="Compose, send, schedule campaigns and follow them.")


def _campaign(campaign_id: int) -> Campaign:
    row = db.session.get(Campaign, campaign_id)
    if row is None:
        raise click.ClickException(f"no campaign {campaign_id}")
    return row


def _fail(exc: Exception):
    db.session.rollback()
    raise click.ClickException(str(exc)) from exc


@campaign.command("create")
@click.option("--subject", required=True)
@click.option(
    "--body-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The message body, in Markdown (UTF-8).",
)
@click.option("--topic", "topic_slug", required=True, help="Slug of the list it goes to.")
@click.option("--preheader", default="")
def create(subject: str, body_file: Path, topic_slug: str, preheader: str) -> None:
    """Create a draft campaign and print its id."""
    topic = db.session.scalar(select(Topic).where(Topic.slug == topic_slug))
    if topic is None:
        raise click.BadParameter(f"no topic {topic_slug!r}", param_hint="--topic")
    try:
        body = body_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.BadParameter("the file is not UTF-8 text", param_hint="--body-file") from exc
    try:
        row = domain.create_campaign(subject, body, topic, preheader, created_by="cli")
    except domain.CampaignError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(row.id)


@campaign.command("send")
@click.argument("campaign_id", type=int)
@click.option("--wait", is_flag=True, help="Send it now in the foreground, then report.")
def send(campaign_id: int, wait: bool) -> None:
    """Queue a campaign for the workers (or, with --wait, send it here)."""
    row = _campaign(campaign_id)
    try:
        total = domain.start_sending(row)
    except domain.CampaignError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"campaign {row.id}: {total} recipients queued")
    if wait:
        sending.send_pending(f"cli:{os.getpid()}", until_idle=True, campaign_id=row.id)
        db.session.refresh(row)
        click.echo(json.dumps(domain.campaign_status(row)))


@campaign.command("schedule")
@click.argument("campaign_id", type=int)
@click.option("--at", "at", required=True, help="ISO date/time; UTC unless it has an offset.")
def schedule(campaign_id: int, at: str) -> None:
    """Send a campaign at a given time (the jobs start it then)."""
    try:
        moment = clock.as_utc(datetime.fromisoformat(at))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO date: {at}", param_hint="--at") from exc
    row = _campaign(campaign_id)
    try:
        domain.schedule_campaign(row, moment)
    except domain.CampaignError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"campaign {row.id} scheduled for {moment.isoformat()}")


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
