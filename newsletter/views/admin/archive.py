"""Publish a sent campaign to the public archive, or take it out again; and the
per-campaign figures on its progress page (`_campaign_report.html`, issue 16)."""

from __future__ import annotations

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ... import audit, campaign_figures, webversion
from ...extensions import db
from ...models import Campaign
from .blueprint import bp
from .forms import ButtonForm

CAMPAIGN_PUBLISH = "campaign.publish"
CAMPAIGN_UNPUBLISH = "campaign.unpublish"


@bp.app_template_global("campaign_report")
def campaign_report(campaign: Campaign) -> dict:
    """What the progress page's report shows: the figures (counts only), whether the
    campaign is in the archive, and its web version links (one per language)."""
    written = webversion.versions(campaign) if campaign.id else {}
    return {
        "figures": campaign_figures.figures(campaign),
        "published": webversion.is_published(campaign),
        "viewable": webversion.is_viewable(campaign),
        "web_versions": {lang: webversion.view_url(campaign.id, lang) for lang in written},
        "form": ButtonForm(),
    }


def _campaign(campaign_id: int) -> Campaign:
    return db.session.get(Campaign, campaign_id) or abort(404, _("No such campaign."))


@bp.post("/campaigns/<int:campaign_id>/publish")
def campaign_publish(campaign_id: int):
    """Show the campaign at /archive (and in its feed)."""
    found = _campaign(campaign_id)
    if ButtonForm().validate_on_submit():
        try:
            changed = webversion.publish(found)
        except webversion.ArchiveError as exc:
            db.session.rollback()
            flash(str(exc))
        else:
            if changed:
                audit.record(current_user, CAMPAIGN_PUBLISH, f"campaign:{campaign_id}")
            db.session.commit()
            flash(_("The campaign is published in the public archive."))
    return redirect(url_for("admin.campaign_progress", campaign_id=campaign_id))


@bp.post("/campaigns/<int:campaign_id>/unpublish")
def campaign_unpublish(campaign_id: int):
    """Take the campaign out of the archive; its web version link in the mail still works."""
    found = _campaign(campaign_id)
    if ButtonForm().validate_on_submit():
        if webversion.unpublish(found):
            audit.record(current_user, CAMPAIGN_UNPUBLISH, f"campaign:{campaign_id}")
        db.session.commit()
        flash(_("The campaign is no longer in the public archive."))
    return redirect(url_for("admin.campaign_progress", campaign_id=campaign_id))
