"""Everyday campaign actions: duplicate a campaign, delete a draft (after a confirmation
step), and see what a campaign contained, each language version, read-only."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ... import audit, campaign_versions, campaigns, i18n
from ...extensions import db
from ...models import CampaignStatus
from .blueprint import bp
from .campaigns import campaign_or_404
from .forms import ButtonForm


@bp.post("/campaigns/<int:campaign_id>/duplicate")
def campaign_duplicate(campaign_id: int):
    """A new draft with the topic and every version of this campaign."""
    found = campaign_or_404(campaign_id)
    if not ButtonForm().validate_on_submit():
        abort(400, _("The form expired; please try again."))
    copy = campaigns.duplicate_campaign(found, created_by=current_user.email)
    audit.record(current_user, audit.CAMPAIGN_DUPLICATE, f"campaign:{copy.id}", source=found.id)
    db.session.commit()
    flash(
        _(
            "A copy of campaign %(id)s is a new draft, with all its language versions.",
            id=found.id,
        )
    )
    return redirect(url_for("admin.campaign", campaign_id=copy.id))


@bp.route("/campaigns/<int:campaign_id>/delete", methods=["GET", "POST"])
def campaign_delete(campaign_id: int):
    """Delete a draft: a page that asks first, then the deletion. Only drafts: a
    scheduled campaign is cancelled first, a sent one is history."""
    found = campaign_or_404(campaign_id)
    form = ButtonForm()
    if found.status != CampaignStatus.DRAFT:
        status = _(getattr(found.status, "value", found.status))  # the status words of _macros.html
        flash(_("This campaign is %(status)s: only drafts can be deleted.", status=status))
        return redirect(url_for("admin.campaign", campaign_id=found.id))
    if form.validate_on_submit():
        subject = found.subject
        try:
            campaigns.delete_draft(found)
        except campaigns.CampaignError as exc:
            db.session.rollback()
            flash(str(exc))
            return redirect(url_for("admin.campaign", campaign_id=campaign_id))
        audit.record(current_user, audit.CAMPAIGN_DELETE, f"campaign:{campaign_id}")
        db.session.commit()
        flash(_("The draft “%(subject)s” is deleted.", subject=subject))
        return redirect(url_for("admin.campaigns"))
    return render_template(
        "admin/campaign_delete.html",
        campaign=found,
        form=form,
        versions=campaign_versions.versions(found),
        languages=i18n.LANGUAGES,
    )


@bp.get("/campaigns/<int:campaign_id>/content")
def campaign_content(campaign_id: int):
    """What the campaign contains (for a sent one: what was sent), each version as a
    fictional reader of its language gets it, read-only."""
    found = campaign_or_404(campaign_id)
    shown = []
    for code, version in campaign_versions.versions(found).items():
        preview = campaigns.preview_message(found, None, code, version)
        shown.append(
            {"version": version, "name": i18n.LANGUAGES.get(code, code), "html": preview.html}
        )
    missing = campaign_versions.missing_languages(found, i18n.LANGUAGES)
    fallback = campaign_versions.version_for(found, None).locale
    return render_template(
        "admin/campaign_content.html",
        campaign=found,
        shown=shown,
        missing=missing,
        fallback=fallback,
        languages=i18n.LANGUAGES,
        editable=found.status in campaigns.EDITABLE,
        form=ButtonForm(),
    )
