"""Campaigns: create a draft, send it, read its status."""

from __future__ import annotations

from flask import g, jsonify, url_for
from sqlalchemy import select

from ... import api_tokens, audit, campaigns
from ...extensions import db
from ...models import Campaign, CampaignStatus, Topic
from ..bearer import require_scope
from .blueprint import bp
from .helpers import BodyError, error, json_body, paged, query_args

# --- campaigns ----------------------------------------------------------------------------

CAMPAIGN_FIELDS = {
    "subject": (str, "a string"),
    "body": (str, "a string: the message in Markdown"),
    "topic": (str, "a string: the slug of the list it goes to"),
    "preheader": (str, "a string"),
}
CAMPAIGN_EXAMPLE = '{"subject": "...", "body": "Markdown ...", "topic": "newsletter"}'


def _campaign_or_404(campaign_id: int):
    found = db.session.get(Campaign, campaign_id)
    if found is None:
        db.session.commit()
        return None, error(404, f"No campaign {campaign_id}.")
    return found, None


@bp.post("/campaigns")
@require_scope(api_tokens.WRITE_CAMPAIGNS)
def create_campaign():
    """A new draft campaign (201); send it with POST /campaigns/<id>/send."""
    try:
        body = json_body(CAMPAIGN_FIELDS, CAMPAIGN_EXAMPLE, required=("subject", "body", "topic"))
        topic = db.session.scalar(select(Topic).where(Topic.slug == body["topic"]))
        if topic is None:
            raise BodyError(f"Unknown topic {body['topic']!r} in 'topic'. Nothing was recorded.")
        created = campaigns.create_campaign(
            body["subject"],
            body["body"],
            topic,
            body.get("preheader", ""),
            created_by=f"api:{g.api_token.name}",
        )
    except (BodyError, campaigns.CampaignError) as exc:
        db.session.rollback()
        return error(400, str(exc))
    db.session.commit()
    location = url_for("api.get_campaign", campaign_id=created.id)
    return jsonify(campaigns.campaign_status(created)), 201, {"Location": location}


@bp.post("/campaigns/<int:campaign_id>/send")
@require_scope(api_tokens.WRITE_CAMPAIGNS)
def send_campaign(campaign_id: int):
    """Fix the recipients and queue the messages for the workers (202)."""
    try:
        json_body({}, "{} or no body", empty_ok=True)
    except BodyError as exc:
        return error(400, str(exc))
    found, missing = _campaign_or_404(campaign_id)
    if missing:
        return missing
    try:
        total = campaigns.start_sending(found)
    except campaigns.CampaignError as exc:
        db.session.rollback()
        return error(409, str(exc))
    actor = f"api:{g.api_token.name}"
    audit.record(actor, audit.CAMPAIGN_SEND, f"campaign:{campaign_id}", total=total)
    db.session.commit()
    return jsonify(campaigns.campaign_status(found)), 202


@bp.get("/campaigns/<int:campaign_id>")
@require_scope(api_tokens.READ_CAMPAIGNS)
def get_campaign(campaign_id: int):
    """A campaign's status and counts (as `flask campaign status`)."""
    found, missing = _campaign_or_404(campaign_id)
    if missing:
        return missing
    db.session.commit()
    return jsonify(campaigns.campaign_status(found)), 200


@bp.get("/campaigns")
@require_scope(api_tokens.READ_CAMPAIGNS)
def list_campaigns():
    """Campaigns, newest first, paged; `status=` filters."""
    try:
        args = query_args(("status", "page", "per_page"))
        query = select(Campaign).order_by(Campaign.id.desc())
        if "status" in args:
            if args["status"] not in CampaignStatus.ALL:
                raise BodyError(f"'status' must be one of {', '.join(CampaignStatus.ALL)}.")
            query = query.where(Campaign.status == args["status"])
        listing = paged(query, args, campaigns.campaign_status)
    except BodyError as exc:
        return error(400, str(exc))
    db.session.commit()
    return jsonify(listing), 200
