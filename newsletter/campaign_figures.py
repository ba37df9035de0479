"""Per-campaign figures without tracking (issue 16, point 8; docs/FIGURES.md).

Delivered, failed, bounced (hard, soft), complained: from the delivery records and the
bounce reports the app receives anyway (newsletter/bounces.py). Unsubscribed within 7
days of the send: counted from the opt-outs themselves. Every campaign message's
unsubscribe link (the footer's and List-Unsubscribe's, so the RFC 8058 one-click too)
ends in `?c=<signed campaign id>`; when a POST to it erases a subscriber, the counter row
(campaign, day) goes up by one. The row holds no reference to anyone, and nothing is
recorded when a message is opened or a link followed: no pixels, no redirects.
Links without `c` (older messages, the preferences page, the mailto) still work and do
not count. Domain functions flush, never commit.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from . import tokens
from .clock import utcnow
from .extensions import db
from .models import Campaign, CampaignOptOut

WINDOW = timedelta(days=7)  # opt-outs counted for a campaign: within 7 days of its send


def link_suffix(campaign_id: int | None) -> str:
    """What a campaign message's unsubscribe link ends in: `?c=` and a signed campaign
    id (URL-safe as it is), so the opt-out it causes can be counted; "" for a campaign
    not saved yet (a live preview)."""
    if campaign_id is None:
        return ""
    return "?c=" + tokens.sign(tokens.CAMPAIGN_LINK, [campaign_id])


def campaign_of_link(value: str | None) -> int | None:
    """The campaign id a `c` value names, or None (absent, tampered: not counted)."""
    if not value:
        return None
    try:
        payload = tokens.verify(tokens.CAMPAIGN_LINK, value)
    except tokens.InvalidTokenError:
        return None
    ok = isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], int)
    return payload[0] if ok else None


def count_opt_out(link_value: str | None, result) -> bool:
    """Count one opt-out for the campaign of the link (`c`), when the POST really erased
    someone (`subscriptions.OptOutResult`; a repeated one-click changes nothing) within
    7 days of the campaign's send. Returns whether it was counted. Never raises for a
    bad `c`: the opt-out itself has already happened and must not fail."""
    from .subscriptions import OptOut

    campaign_id = campaign_of_link(link_value)
    if campaign_id is None or getattr(result, "outcome", None) != OptOut.ERASED:
        return False
    campaign = db.session.get(Campaign, campaign_id)
    now = utcnow()
    if campaign is None or campaign.started_at is None or now - campaign.started_at > WINDOW:
        return False
    _increment(campaign_id, now.date())
    return True


def _increment(campaign_id: int, day) -> None:
    """One more on the (campaign, day) counter: an upsert, safe with concurrent opt-outs."""
    dialect = db.engine.dialect.name
    if dialect in ("postgresql", "sqlite"):
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = insert(CampaignOptOut).values(campaign_id=campaign_id, day=day, count=1)
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["campaign_id", "day"],
                set_={"count": CampaignOptOut.count + 1},
            )
        )
        return
    changed = db.session.execute(  # any other database: update, else insert
        update(CampaignOptOut)
        .where(CampaignOptOut.campaign_id == campaign_id, CampaignOptOut.day == day)
        .values(count=CampaignOptOut.count + 1)
    ).rowcount
    if not changed:
        db.session.add(CampaignOptOut(campaign_id=campaign_id, day=day, count=1))
    db.session.flush()


def opt_outs_within_window(campaign: Campaign) -> int:
    """Opt-outs through this campaign's links within 7 days of its send."""
    if campaign.started_at is None:
        return 0
    last_day = (campaign.started_at + WINDOW).date()
    total = db.session.scalar(
        select(func.coalesce(func.sum(CampaignOptOut.count), 0)).where(
            CampaignOptOut.campaign_id == campaign.id, CampaignOptOut.day <= last_day
        )
    )
    return int(total or 0)


def figures(campaign: Campaign, status: dict | None = None) -> dict:
    """What the campaign's report page shows: counts only, nobody named. `status`: the
    campaign's `campaign_status`, when the caller has just read it."""
    from . import bounces, campaigns  # they build on messages, which builds on this module

    status = status or campaigns.campaign_status(campaign)
    rates = bounces.campaign_rates(campaign)
    return {
        "delivered": max(status["sent"] - rates["hard_bounces"], 0),
        "sent": status["sent"],
        "failed": status["failed"],
        "hard_bounces": rates["hard_bounces"],
        "soft_bounces": rates["soft_bounces"],
        "bounced": rates["hard_bounces"] + rates["soft_bounces"],
        "complaints": rates["complaints"],
        "unsubscribed": opt_outs_within_window(campaign),
        "window_days": WINDOW.days,
        "window_open": campaign.started_at is not None and utcnow() - campaign.started_at <= WINDOW,
    }
