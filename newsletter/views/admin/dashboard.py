"""The dashboard: what the operator must fix, subscribers per topic and status, recent
campaigns."""

from __future__ import annotations

from flask import render_template

from ... import listings, plumbing
from .blueprint import bp


@bp.get("/")
def dashboard():
    """Warnings about the configuration (plumbing.operator_warnings: a mailto unsubscribe
    nobody reads, a noreply privacy contact), counts per topic and status, and the newest
    campaigns."""
    recent = listings.recent_campaigns()
    return render_template(
        "admin/dashboard.html",
        warnings=plumbing.operator_warnings(),
        topics=listings.topic_counts(),
        statuses=listings.status_counts(),
        campaigns=recent,
        failed=listings.campaigns_failed(recent),
    )
