"""Campaigns: compose with a live preview, test send, schedule, send, progress, cancel.

The compose page is one form with several submit buttons (save, test send, schedule,
send): whatever the button, the fields are saved first, so an action never works on a
stale version of what the admin sees.
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ... import audit, bounces, campaigns, clock, i18n, listings, subscriptions
from ...addresses import InvalidAddress, address_hash, normalise
from ...extensions import db
from ...models import Campaign, CampaignStatus
from . import bp
from .forms import ButtonForm, CampaignForm

PREVIEW_AUDIT_WINDOW = timedelta(minutes=10)


def _campaign(campaign_id: int) -> Campaign:
    return db.session.get(Campaign, campaign_id) or abort(404, "No such campaign.")


def _form(campaign: Campaign | None = None) -> CampaignForm:
    """The compose form with its topic and sample-recipient choices filled in."""
    form = CampaignForm(obj=campaign)
    form.topic.choices = [(t.slug, t.name) for t in subscriptions.public_topics()]
    if not form.is_submitted():
        form.sample.data = request.args.get("sample", "")
    if campaign is not None and not form.is_submitted():
        form.topic.data = campaign.topic.slug
        form.send_at.data = (
            clock.local(campaign.scheduled_at).replace(tzinfo=None)  # shown in TIMEZONE
            if campaign.scheduled_at
            else None
        )
    form.send_at.label.text = f"Send at ({clock.zone().key} time)"
    topic = _topic(form.topic.data) if form.topic.data else None
    form.sample.choices = _sample_choices(topic)
    return form


LANGUAGE_SAMPLE = "lang:"  # "lang:nl": a fictional sample recipient in that language


def _sample_choices(topic) -> list[tuple[str, str]]:
    """Whom to preview and test-send as: a fictional sample in each language ("" the
    default one), then real subscribers of the topic, each with their language."""
    fictional = [
        ("" if code == i18n.DEFAULT else LANGUAGE_SAMPLE + code, f"Fictional sample ({name})")
        for code, name in i18n.LANGUAGES.items()
    ]
    people = [(s.public_id, s.email) for s in listings.sample_recipients(topic)]
    return fictional + people


def _sample(value: str | None):
    """(subscriber, language) of a "Preview as" choice: one of the two is None."""
    if (value or "").startswith(LANGUAGE_SAMPLE):
        return None, value.removeprefix(LANGUAGE_SAMPLE)
    return subscriptions.subscriber_by_public_id(value or None), None


def _topic(slug: str | None):
    found = subscriptions.topics_by_slug([slug]) if slug else []
    return found[0] if found else None


def _compose_page(form: CampaignForm, campaign: Campaign | None, status: int = 200):
    # The count of every topic is in the page, so that it follows the topic chosen
    # (before saving); a new form counts for the topic its list shows first.
    counts = listings.recipient_counts(subscriptions.public_topics())
    if form.topic.data not in counts:
        form.topic.data = campaign.topic.slug if campaign else next(iter(counts), None)
    return render_template(
        "admin/compose.html",
        form=form,
        campaign=campaign,
        recipients=counts.get(form.topic.data, 0),
        recipient_counts=counts,
    ), status


@bp.get("/campaigns", endpoint="campaigns")
def campaigns_list():
    """Every campaign, newest first."""
    page = listings.campaigns_page(request.args.get("page", 1, type=int))
    failed = listings.campaigns_failed(page.items)
    return render_template("admin/campaigns.html", page=page, failed=failed)


@bp.get("/campaigns/new")
def compose():
    """An empty compose form."""
    return _compose_page(_form(), None)[0]


@bp.get("/campaigns/<int:campaign_id>")
def campaign(campaign_id: int):
    """The compose form of a draft or scheduled campaign; the progress page otherwise."""
    found = _campaign(campaign_id)
    if found.status not in campaigns.EDITABLE:
        return redirect(url_for("admin.campaign_progress", campaign_id=found.id))
    return _compose_page(_form(found), found)[0]


@bp.post("/campaigns/new", endpoint="compose_post")
@bp.post("/campaigns/<int:campaign_id>", endpoint="campaign_post")
def campaign_post(campaign_id: int | None = None):
    """Save the fields, then do what the pressed button asks."""
    found = _campaign(campaign_id) if campaign_id else None
    form = _form(found)
    if not form.validate_on_submit():
        return _compose_page(form, found, 400)
    try:
        saved = _save(form, found)
        response = ACTIONS.get(request.form.get("action", "save"), _after_save)(form, saved)
    except (campaigns.CampaignError, InvalidAddress) as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return _compose_page(form, found, 400)
    db.session.commit()
    return response


def _save(form: CampaignForm, found: Campaign | None) -> Campaign:
    topic = _topic(form.topic.data)
    fields = (form.subject.data, form.body_markdown.data, topic)
    if found is None:
        return campaigns.create_campaign(
            *fields, preheader=form.preheader.data or "", created_by=current_user.email
        )
    campaigns.update_campaign(found, *fields, preheader=form.preheader.data or "")
    return found


def _compose_url(form: CampaignForm, saved: Campaign) -> str:
    """Back to the compose page, previewing as the same recipient as before."""
    return url_for("admin.campaign", campaign_id=saved.id, sample=form.sample.data or None)


def _after_save(form: CampaignForm, saved: Campaign):
    flash("Draft saved.")
    return redirect(_compose_url(form, saved))


def _test_send(form: CampaignForm, saved: Campaign):
    """Send a test in the language of the recipient chosen under "Preview as" (only the
    language: the test names nobody, claims no consent, and its links change nothing)."""
    person, language = _sample(form.sample.data)
    language = campaigns.send_test(saved, form.test_address.data or "", person, language)
    address = normalise(form.test_address.data)  # send_test checked it
    audit.record(
        current_user, audit.CAMPAIGN_TEST_SEND, f"campaign:{saved.id}", to=address_hash(address)
    )
    whose = f", the language of {person.email}" if person is not None else ""
    flash(
        f"Draft saved, and a test message is on its way to {address}, in "
        f"{i18n.LANGUAGES[language]}{whose}. Only the language is taken from the recipient "
        "chosen: the test is marked as one, claims no consent, and its links change nothing."
    )
    return redirect(_compose_url(form, saved))


def _schedule(form: CampaignForm, saved: Campaign):
    if form.send_at.data is None:
        raise campaigns.CampaignError(f"Choose the date and time to send at ({clock.zone().key}).")
    at = clock.from_local(form.send_at.data)  # entered in TIMEZONE, stored UTC
    campaigns.schedule_campaign(saved, at)
    audit.record(current_user, audit.CAMPAIGN_SCHEDULE, f"campaign:{saved.id}", at=at.isoformat())
    flash(
        f"Scheduled for {clock.format_local(at, kind='admin')}. "
        "You can still edit or cancel it until then."
    )
    return redirect(_compose_url(form, saved))


def _ask_to_send(form: CampaignForm, saved: Campaign):
    return redirect(url_for("admin.campaign_send", campaign_id=saved.id))


ACTIONS = {"save": _after_save, "test": _test_send, "schedule": _schedule, "send": _ask_to_send}


@bp.post("/campaigns/preview")
def campaign_preview():
    """The message as the chosen recipient will see it, from the unsaved form (JSON)."""
    form = _form()
    topic = _topic(form.topic.data)
    if topic is None:
        return jsonify(error="Choose a topic."), 400
    draft = Campaign(
        subject=form.subject.data or "",
        preheader=form.preheader.data or "",
        body_markdown=form.body_markdown.data or "",
        topic=topic,
    )
    person, language = _sample(form.sample.data)
    shown = campaigns.preview_message(draft, person, language)
    if draft in db.session:  # never store the throw-away draft
        db.session.expunge(draft)
    if person is not None:
        audit.record_once(
            current_user, audit.CAMPAIGN_PREVIEW, person.public_id, PREVIEW_AUDIT_WINDOW
        )
    db.session.commit()
    return jsonify(
        html=shown.html,
        text=shown.text,
        language=shown.language,
        problems=shown.problems,  # what the send would refuse, in this language
        samples=form.sample.choices,
    )


@bp.route("/campaigns/<int:campaign_id>/send", methods=["GET", "POST"])
def campaign_send(campaign_id: int):
    """Confirm, then fix the recipients and queue the messages for the workers."""
    found = _campaign(campaign_id)
    form = ButtonForm()
    if form.validate_on_submit():
        try:
            total = campaigns.start_sending(found)
        except campaigns.CampaignError as exc:
            db.session.rollback()
            flash(str(exc))
            return redirect(url_for("admin.campaign", campaign_id=campaign_id))
        audit.record(current_user, audit.CAMPAIGN_SEND, f"campaign:{campaign_id}", total=total)
        db.session.commit()
        return redirect(url_for("admin.campaign_progress", campaign_id=campaign_id))
    if found.status not in campaigns.EDITABLE:
        return redirect(url_for("admin.campaign_progress", campaign_id=campaign_id))
    recipients = listings.lawful_recipient_count(found.topic)
    return render_template(
        "admin/campaign_send.html", campaign=found, form=form, recipients=recipients
    )


@bp.get("/campaigns/<int:campaign_id>/progress")
def campaign_progress(campaign_id: int):
    """A progress bar that moves while the workers send (it polls the status below),
    and every delivery that did not go out, with its reason."""
    found = _campaign(campaign_id)
    reasons, other_reasons = listings.problem_reasons(found)
    return render_template(
        "admin/progress.html",
        campaign=found,
        status=campaigns.campaign_status(found),
        stalled=listings.campaign_stalled(found),
        reasons=reasons,
        other_reasons=other_reasons,
        problems=listings.problem_deliveries(found, request.args.get("page", 1, type=int)),
        rates=bounces.campaign_rates(found),
        form=ButtonForm(),
        running=(CampaignStatus.SCHEDULED, CampaignStatus.SENDING),
    )


@bp.get("/campaigns/<int:campaign_id>/status.json")
def campaign_status(campaign_id: int):
    """Counts per delivery state, polled by the progress page; `stalled` says that no
    worker seems to be sending it."""
    found = _campaign(campaign_id)
    return jsonify(campaigns.campaign_status(found) | {"stalled": listings.campaign_stalled(found)})


@bp.post("/campaigns/<int:campaign_id>/cancel")
def campaign_cancel(campaign_id: int):
    """Stop a scheduled or sending campaign: what is still queued never leaves."""
    found = _campaign(campaign_id)
    if ButtonForm().validate_on_submit():
        try:
            campaigns.cancel_campaign(found)
        except campaigns.CampaignError as exc:
            db.session.rollback()
            flash(str(exc))
        else:
            audit.record(current_user, audit.CAMPAIGN_CANCEL, f"campaign:{campaign_id}")
            db.session.commit()
            flash("The campaign is cancelled; nothing more of it will be sent.")
    return redirect(url_for("admin.campaign_progress", campaign_id=campaign_id))
