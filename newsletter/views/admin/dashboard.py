"""The dashboard: subscribers per topic and status, recent campaigns."""

from __future__ import annotations

from flask import render_template

from ... import listings
from . import bp


@bp.get("/")
def dashboard():
    """Counts per topic and status, and the newest campaigns."""
    recent = listings.recent_campaigns()
    return render_template(
        "admin/dashboard.html",
        topics=listings.topic_counts(),
        statuses=listings.status_counts(),
        campaigns=recent,
        failed=listings.campaigns_failed(recent),
    )
