"""Sending a campaign from the admin: the confirmation, progress, status and cancel."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ... import audit, bounces, campaign_figures, campaign_versions, campaigns, i18n, listings
from ...extensions import db
from ...models import Campaign, CampaignStatus
from .blueprint import bp
from .campaigns import campaign_or_404
from .forms import ButtonForm


@bp.route("/campaigns/<int:campaign_id>/send", methods=["GET", "POST"])
def campaign_send(campaign_id: int):
    """Confirm (how many people get each version; `?only=nl`: one language only), then
    fix the recipients and queue the messages for the workers."""
    found = campaign_or_404(campaign_id)
    form = ButtonForm()
    if form.validate_on_submit():
        return _start(found, _only_locale(request.form.get("only_locale")))
    if found.status not in campaigns.EDITABLE:
        return redirect(url_for("admin.campaign_progress", campaign_id=campaign_id))
    only = _only_locale(request.args.get("only"))
    audience = campaigns.audience_by_language(found, only)
    return render_template(
        "admin/campaign_send.html",
        campaign=found,
        form=form,
        recipients=sum(row["count"] for row in audience),
        audience=audience,
        missing=[row for row in audience if not row["own"]],
        versions=campaign_versions.versions(found),
        languages=i18n.LANGUAGES,
        only=only,
    )


def _only_locale(value: str | None) -> str | None:
    """The "one language only" choice ("" or absent: everyone)."""
    return i18n.normalize_locale(value) if value else None


def _start(found: Campaign, only: str | None):
    try:
        total = campaigns.start_sending(found, only_locale=only)
    except campaigns.CampaignError as exc:
        db.session.rollback()
        flash(str(exc))
        return redirect(url_for("admin.campaign", campaign_id=found.id))
    detail = {"total": total} | ({"only_locale": only} if only else {})
    audit.record(current_user, audit.CAMPAIGN_SEND, f"campaign:{found.id}", **detail)
    db.session.commit()
    return redirect(url_for("admin.campaign_progress", campaign_id=found.id))


@bp.get("/campaigns/<int:campaign_id>/progress")
def campaign_progress(campaign_id: int):
    """A progress bar that moves while the workers send (it polls the status below),
    and every delivery that did not go out, with its reason."""
    found = campaign_or_404(campaign_id)
    reasons, other_reasons = listings.problem_reasons(found)
    by_language = campaigns.counts_by_language(found)
    return render_template(
        "admin/progress.html",
        campaign=found,
        status=campaigns.campaign_status(found),
        stalled=listings.campaign_stalled(found),
        reasons=reasons,
        other_reasons=other_reasons,
        problems=listings.problem_deliveries(found, request.args.get("page", 1, type=int)),
        rates=bounces.campaign_rates(found),
        by_language=by_language,
        version_of={
            code: campaign_versions.version_for(found, i18n.normalize_locale(code)).locale
            for code in by_language
        },
        languages=i18n.LANGUAGES,
        form=ButtonForm(),
        running=(CampaignStatus.SCHEDULED, CampaignStatus.SENDING),
    )


@bp.get("/campaigns/<int:campaign_id>/status.json")
def campaign_status(campaign_id: int):
    """Counts per delivery state, polled by the progress page; `stalled` says that no
    worker seems to be sending it; `figures` the report's counts (delivered follows the
    sent count while the page is watched)."""
    found = campaign_or_404(campaign_id)
    status = campaigns.campaign_status(found)
    figures = campaign_figures.figures(found, status)  # the delivery counts read once
    return jsonify(status | {"stalled": listings.campaign_stalled(found), "figures": figures})


@bp.post("/campaigns/<int:campaign_id>/cancel")
def campaign_cancel(campaign_id: int):
    """Stop a scheduled or sending campaign: what is still queued never leaves."""
    found = campaign_or_404(campaign_id)
    if ButtonForm().validate_on_submit():
        try:
            campaigns.cancel_campaign(found)
        except campaigns.CampaignError as exc:
            db.session.rollback()
            flash(str(exc))
        else:
            audit.record(current_user, audit.CAMPAIGN_CANCEL, f"campaign:{campaign_id}")
            db.session.commit()
            flash(_("The campaign is cancelled; nothing more of it will be sent."))
    return redirect(url_for("admin.campaign_progress", campaign_id=campaign_id))
