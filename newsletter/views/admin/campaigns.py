"""Campaigns: compose with a live preview, test send, schedule, send, progress, cancel.

The compose page is one form with several submit buttons (save, test send, schedule,
send): whatever the button, the fields are saved first, so an action never works on a
stale version of what the admin sees.
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional

from ... import audit, campaign_versions, campaigns, clock, i18n, listings, subscriptions
from ...addresses import InvalidAddressError, address_hash, normalise
from ...extensions import db
from ...forms import no_control_characters
from ...models import Campaign, CampaignVersion
from .blueprint import bp
from .forms import CampaignForm

PREVIEW_AUDIT_WINDOW = timedelta(minutes=10)


def campaign_or_404(campaign_id: int) -> Campaign:
    """The campaign, or the admin's 404 page."""
    return db.session.get(Campaign, campaign_id) or abort(404, _("No such campaign."))


_FORM_CLASSES: dict[tuple, type] = {}


def _field_names(code: str) -> tuple[str, str, str]:
    """(subject, preheader, body) field names of a language's version: the default
    language's are the plain names (`subject`, ...), the others carry the code."""
    if code == i18n.DEFAULT:
        return "subject", "preheader", "body_markdown"
    return f"subject_{code}", f"preheader_{code}", f"body_{code}"


def campaign_form_class() -> type:
    """The compose form with a subject, preheader and body per offered language."""
    key = (i18n.DEFAULT, *i18n.LANGUAGES)
    if key not in _FORM_CLASSES:
        extra = {}
        for code in i18n.LANGUAGES:
            if code == i18n.DEFAULT:
                continue
            subject, preheader, body = _field_names(code)
            extra[subject] = StringField(
                _l("Subject"), validators=[Optional(), Length(max=300), no_control_characters]
            )
            extra[preheader] = StringField(
                _l("Preheader (the preview line in inboxes)"),
                validators=[Optional(), Length(max=300), no_control_characters],
            )
            extra[body] = TextAreaField(_l("Body (Markdown)"), validators=[Optional()])
        _FORM_CLASSES[key] = type("CampaignVersionsForm", (CampaignForm,), extra)
    return _FORM_CLASSES[key]


def _form(campaign: Campaign | None = None) -> CampaignForm:
    """The compose form with its versions, topic and sample-recipient choices filled in."""
    form = campaign_form_class()()
    if not form.is_submitted():
        form.sample.data = request.args.get("sample", "")
        if campaign is not None:
            _fill_versions(form, campaign)
    form.topic.choices = [(t.slug, t.name) for t in subscriptions.public_topics()]
    if campaign is not None and not form.is_submitted():
        form.topic.data = campaign.topic.slug
        form.send_at.data = (
            clock.local(campaign.scheduled_at).replace(tzinfo=None)  # shown in TIMEZONE
            if campaign.scheduled_at
            else None
        )
    form.send_at.label.text = _("Send at (%(zone)s time)", zone=clock.zone().key)
    topic = _topic(form.topic.data) if form.topic.data else None
    form.sample.choices = _sample_choices(topic)
    return form


def _fill_versions(form: CampaignForm, campaign: Campaign) -> None:
    for code, version in campaign_versions.versions(campaign).items():
        if code in i18n.LANGUAGES:
            subject, preheader, body = _field_names(code)
            form[subject].data, form[preheader].data = version.subject, version.preheader
            form[body].data = version.body_markdown


def _texts(form: CampaignForm) -> dict[str, tuple[str, str, str]]:
    """{language: (subject, body, preheader)} of every version the form has started."""
    texts = {}
    for code in _tab_order():
        subject, preheader, body = (form[name].data or "" for name in _field_names(code))
        if subject.strip() or preheader.strip() or body.strip():
            texts[code] = (subject, body, preheader)
    return texts


def _tab_order() -> list[str]:
    """The default language first, then the others as offered."""
    return [i18n.DEFAULT, *(c for c in i18n.LANGUAGES if c != i18n.DEFAULT)]


def _check_versions(form: CampaignForm) -> bool:
    """Field errors for what a started version lacks (or, with none started, the default
    language's fields); True when every started version is complete."""
    texts = _texts(form)
    ok = True
    for code in texts or [i18n.DEFAULT]:
        subject, _preheader, body = _field_names(code)
        if not (form[subject].data or "").strip():
            form[subject].errors = [*form[subject].errors, _("A subject is required.")]
            ok = False
        if not (form[body].data or "").strip():
            form[body].errors = [*form[body].errors, _("The body cannot be empty.")]
            ok = False
    return ok


def _tabs(form: CampaignForm) -> list[dict]:
    """The version tabs of the compose page: language, its fields, started or not."""
    texts = _texts(form)
    tabs = []
    for code in _tab_order():
        subject, preheader, body = (form[name] for name in _field_names(code))
        errors = bool(subject.errors or preheader.errors or body.errors)
        tabs.append(
            {"code": code, "name": i18n.LANGUAGES[code], "fields": (subject, preheader, body),
             "started": code in texts, "errors": errors, "default": code == i18n.DEFAULT}
        )  # fmt: skip
    return tabs


LANGUAGE_SAMPLE = "lang:"  # "lang:nl": a fictional sample recipient in that language


def _sample_choices(topic) -> list[tuple[str, str]]:
    """Whom to preview and test-send as: a fictional sample in each language ("" the
    default one), then real subscribers of the topic, each with their language."""
    fictional = [
        (
            "" if code == i18n.DEFAULT else LANGUAGE_SAMPLE + code,
            _("Fictional sample (%(language)s)", language=name),
        )
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
        tabs=_tabs(form),
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
    found = campaign_or_404(campaign_id)
    if found.status not in campaigns.EDITABLE:
        return redirect(url_for("admin.campaign_progress", campaign_id=found.id))
    return _compose_page(_form(found), found)[0]


@bp.post("/campaigns/new", endpoint="compose_post")
@bp.post("/campaigns/<int:campaign_id>", endpoint="campaign_post")
def campaign_post(campaign_id: int | None = None):
    """Save the fields, then do what the pressed button asks."""
    found = campaign_or_404(campaign_id) if campaign_id else None
    form = _form(found)
    if not (form.validate_on_submit() & _check_versions(form)):
        return _compose_page(form, found, 400)
    try:
        saved = _save(form, found)
        response = ACTIONS.get(request.form.get("action", "save"), _after_save)(form, saved)
    except (campaigns.CampaignError, InvalidAddressError) as exc:
        db.session.rollback()
        form.form_errors.append(str(exc))
        return _compose_page(form, found, 400)
    db.session.commit()
    return response


def _save(form: CampaignForm, found: Campaign | None) -> Campaign:
    topic = _topic(form.topic.data)
    texts = _texts(form)
    if found is None:
        first = next(iter(texts))
        subject, body, preheader = texts[first]
        found = campaigns.create_campaign(
            subject, body, topic, preheader, created_by=current_user.email, locale=first
        )
    campaigns.update_versions(found, topic, texts)
    return found


def _compose_url(form: CampaignForm, saved: Campaign) -> str:
    """Back to the compose page, previewing as the same recipient as before."""
    return url_for("admin.campaign", campaign_id=saved.id, sample=form.sample.data or None)


def _after_save(form: CampaignForm, saved: Campaign):
    flash(_("Draft saved."))
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
    note = _(
        "Only the language is taken from the recipient chosen: the test is marked as one,"
        " claims no consent, and its links change nothing."
    )
    if person is not None:
        sent = _(
            "Draft saved, and a test message is on its way to %(address)s, in %(language)s,"
            " the language of %(person)s.",
            address=address,
            language=i18n.LANGUAGES[language],
            person=person.email,
        )
    else:
        sent = _(
            "Draft saved, and a test message is on its way to %(address)s, in %(language)s.",
            address=address,
            language=i18n.LANGUAGES[language],
        )
    flash(f"{sent} {note}")
    return redirect(_compose_url(form, saved))


def _schedule(form: CampaignForm, saved: Campaign):
    if form.send_at.data is None:
        raise campaigns.CampaignError(
            _("Choose the date and time to send at (%(zone)s).", zone=clock.zone().key)
        )
    at = clock.from_local(form.send_at.data)  # entered in TIMEZONE, stored UTC
    campaigns.schedule_campaign(saved, at)
    audit.record(current_user, audit.CAMPAIGN_SCHEDULE, f"campaign:{saved.id}", at=at.isoformat())
    flash(
        _(
            "Scheduled for %(when)s. You can still edit or cancel it until then.",
            when=clock.format_local(at, kind="admin"),
        )
    )
    return redirect(_compose_url(form, saved))


def _ask_to_send(form: CampaignForm, saved: Campaign):
    return redirect(url_for("admin.campaign_send", campaign_id=saved.id))


ACTIONS = {"save": _after_save, "test": _test_send, "schedule": _schedule, "send": _ask_to_send}


@bp.post("/campaigns/preview")
def campaign_preview():
    """The message as the chosen recipient will see it, from the unsaved form (JSON);
    `version` (a language): the compose tab shown, else the recipient's own version."""
    form = _form()
    topic = _topic(form.topic.data)
    if topic is None:
        return jsonify(error=_("Choose a topic.")), 400
    draft = _draft(form, topic)
    person, language = _sample(form.sample.data)
    tab = i18n.normalize_locale(request.form.get("version"))
    version = campaign_versions.versions(draft).get(tab) if tab else None
    if tab and person is None and not language:
        language = tab  # the default sample: a fictional reader of this tab's language
    shown = campaigns.preview_message(draft, person, language, version)
    _forget(draft)
    if person is not None:
        audit.record_once(
            current_user, audit.CAMPAIGN_PREVIEW, person.public_id, PREVIEW_AUDIT_WINDOW
        )
    db.session.commit()
    return jsonify(
        html=shown.html,
        text=shown.text,
        language=shown.language,
        version=shown.version,  # the language of the version shown (a fallback, maybe)
        problems=shown.problems,  # what the send would refuse, in this language
        samples=form.sample.choices,
    )


def _draft(form: CampaignForm, topic) -> Campaign:
    """A throw-away campaign with the form's versions (never stored)."""
    texts = _texts(form) or {i18n.DEFAULT: ("", "", "")}
    main = i18n.DEFAULT if i18n.DEFAULT in texts else next(iter(texts))
    subject, body, preheader = texts.pop(main)
    draft = Campaign(
        subject=subject, preheader=preheader, body_markdown=body, topic=topic, locale=main
    )
    for code, (subject, body, preheader) in texts.items():
        draft.versions.append(
            CampaignVersion(locale=code, subject=subject, preheader=preheader, body_markdown=body)
        )
    return draft


def _forget(draft: Campaign) -> None:
    """Never store the throw-away draft (the topic's session may have taken it in)."""
    for row in [*draft.versions, draft]:
        if row in db.session:
            db.session.expunge(row)
