"""Subscribers: search, detail with consent history, export (Art. 15), rectification
(Art. 16), erase (Art. 17), and access requests for former subscribers.

Pages are addressed by the opaque public id, never by the address (checklist B8), and
every look at a person's data is written to the audit log.
"""

from __future__ import annotations

import json

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from ... import audit, i18n, list_export, listings, manual_signup, rights, subscriptions
from ...addresses import InvalidAddressError
from ...clock import utcnow
from ...extensions import db
from ...models import Basis, Subscriber, SubscriberStatus
from .account_forms import AddSubscriberForm
from .auth import owner_only
from .blueprint import bp
from .forms import AccessRequestForm, ButtonForm, DetailsForm, EraseForm

SUBSCRIBER_RECTIFY = "subscriber.rectify"  # audit action: fields changed, never values
ACCESS_REQUEST = "subscriber.access-request"  # audit action: target is the address hash


def _subscriber(public_id: str) -> Subscriber:
    return subscriptions.subscriber_by_public_id(public_id) or abort(
        404, _("No such subscriber: the person may have been erased or opted out.")
    )


@bp.get("/subscribers")
def subscribers():
    """Search by (part of an) address, filter by status; paged."""
    text = request.args.get("q", "")[:320]
    status = request.args.get("status", "")
    language = i18n.normalize_locale(request.args.get("language")) or ""
    number = request.args.get("page", 1, type=int)
    page = listings.search_subscribers(text, status, number, language=language)
    # The search text itself is not logged: it is (part of) an address.
    audit.record(
        current_user,
        audit.SUBSCRIBER_SEARCH,
        "",
        searched=bool(text),
        status=status,
        language=language,
        shown=len(page.items),
    )
    db.session.commit()
    return render_template(
        "admin/subscribers.html",
        page=page,
        q=text,
        status=status,
        statuses=SubscriberStatus.ALL,
        language=language,
        languages=i18n.language_choices(),
        access_form=AccessRequestForm(formdata=None),
    )


@bp.post("/subscribers/access-request")
@owner_only  # editors may not (issue 16)
def access_request():
    """Art. 15 for any address: a subscriber's full export, or for a former subscriber
    what is still held under the keyed hash of the address. A JSON download, logged."""
    form = AccessRequestForm()
    if not form.validate_on_submit():
        abort(400, _("Enter the address the request is about (the form may have expired)."))
    try:
        data = rights.request_access(form.email.data, channel="admin")
    except InvalidAddressError as exc:
        abort(400, _("This is not a valid address: %(reason)s", reason=exc))
    former = data.get("subscriber", True) is None
    audit.record(
        current_user, ACCESS_REQUEST, data["held_under_hash"]["address_hash"], former=former
    )
    db.session.commit()
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": 'attachment; filename="access-request.json"'},
    )


@bp.get("/subscribers/<public_id>")
def subscriber(public_id: str):
    """One person: lists, basis, the full consent history and the campaigns sent."""
    person = _subscriber(public_id)
    audit.record(current_user, audit.SUBSCRIBER_VIEW, person.public_id)
    db.session.commit()
    return _subscriber_page(person)


def _details_form(person: Subscriber, formdata=None) -> DetailsForm:
    form = DetailsForm(formdata=formdata, prefix="details")
    form.locale.choices = i18n.language_choices()
    if formdata is None:
        form.name.data, form.locale.data = person.name, person.locale
    return form


def _subscriber_page(person: Subscriber, details_form=None, status: int = 200):
    return render_template(
        "admin/subscriber.html",
        person=person,
        history=listings.consent_history(person),
        deliveries=listings.subscriber_deliveries(person),
        pending_change=subscriptions.address_changes(person),
        form=ButtonForm(),
        details_form=details_form or _details_form(person),
    ), status


@bp.post("/subscribers/<public_id>/details")
def subscriber_details(public_id: str):
    """Rectification (GDPR Art. 16): name and language at once; a new address gets a
    confirmation link and moves only when it is used. Logged without the values."""
    person = _subscriber(public_id)
    form = _details_form(person, formdata=request.form)
    if not form.validate_on_submit():
        return _subscriber_page(person, form, 400)
    try:
        changed, asked = subscriptions.correct_details(
            person,
            subscriptions.Evidence(source=f"admin rectification ({current_user.id})"),
            name=form.name.data,
            locale=form.locale.data,
            email=form.email.data,
            requested_by="admin",  # the admin acts on the person's request, checks who asks
        )
    except (InvalidAddressError, ValueError) as exc:
        db.session.rollback()
        form.email.errors = [*form.email.errors, str(exc)]
        return _subscriber_page(person, form, 400)
    audit.record(current_user, SUBSCRIBER_RECTIFY, public_id, fields=changed, new_address=asked)
    db.session.commit()
    done = (
        _("Changed: %(fields)s.", fields=", ".join(changed)) if changed else _("No detail changed.")
    )
    if asked:
        done += " " + _(
            "A confirmation link was mailed to the new address; the old one stays until then."
        )
    flash(done)
    return redirect(url_for("admin.subscriber", public_id=public_id))


@bp.post("/subscribers/<public_id>/export")
@owner_only  # editors may not (issue 16)
def subscriber_export(public_id: str):
    """Everything held about the person, as a JSON download (GDPR Art. 15)."""
    person = _subscriber(public_id)
    if not ButtonForm().validate_on_submit():
        abort(400, _("The form expired; go back, reload the page and try again."))
    data = rights.request_export(person, channel="admin")
    audit.record(current_user, audit.SUBSCRIBER_EXPORT, person.public_id)
    db.session.commit()
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="subscriber-{public_id}.json"'},
    )


@bp.route("/subscribers/<public_id>/erase", methods=["GET", "POST"])
@owner_only  # editors may not (issue 16)
def subscriber_erase(public_id: str):
    """Ask for confirmation, then erase exactly as an opt-out does (GDPR Art. 17)."""
    person = _subscriber(public_id)
    form = EraseForm()
    if form.validate_on_submit():
        rights.request_erasure(person, channel="admin")
        audit.record(current_user, audit.SUBSCRIBER_ERASE, public_id)
        db.session.commit()
        flash(_("The subscriber is erased; the address is on the suppression list."))
        return redirect(url_for("admin.subscribers"))
    status = 400 if form.errors else 200
    return render_template("admin/subscriber_erase.html", person=person, form=form), status


# --- issue 16: add one person by hand; export the list ---------------------------------------

SUBSCRIBER_ADD = "subscriber.add-by-hand"  # audit action: target public id, the reason


def _add_form(formdata=None) -> AddSubscriberForm:
    form = AddSubscriberForm(formdata=formdata)
    form.locale.choices = list(i18n.LANGUAGES.items())
    form.topics.choices = [(t.slug, t.name) for t in subscriptions.public_topics()]
    if formdata is None:
        form.locale.data = i18n.DEFAULT
    return form


@bp.route("/subscribers/add", methods=["GET", "POST"])
def subscriber_add():
    """Add one person who asked for it (a pending double opt-in; the reason is kept)."""
    form = _add_form(request.form if request.method == "POST" else None)
    if not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("admin/subscriber_add.html", form=form), status
    try:
        added = manual_signup.add_by_hand(
            form.email.data,
            form.topics.data,
            form.reason.data,
            current_user.id,
            name=form.name.data,
            locale=form.locale.data,
        )
    except (InvalidAddressError, manual_signup.ManualSignupRefused) as exc:
        db.session.rollback()
        form.email.errors = [*form.email.errors, str(exc)]
        return render_template("admin/subscriber_add.html", form=form), 400
    audit.record(
        current_user,
        SUBSCRIBER_ADD,
        added.subscriber.public_id,
        reason=" ".join(form.reason.data.split()),
        topics=added.topics,
        mailed=added.mailed,
    )
    db.session.commit()
    flash(_added_message(added.mailed))
    return redirect(url_for("admin.subscriber", public_id=added.subscriber.public_id))


def _added_message(mailed: bool) -> str:
    if mailed:
        return _(
            "Added as pending: a confirmation mail was sent. Nothing else is sent until "
            "the person confirms."
        )
    return _(
        "Added as pending, but no confirmation mail was sent: this address got the "
        "most confirmation mails allowed in 24 hours. Try again tomorrow."
    )


def _export_choices() -> dict:
    return {
        "topics": subscriptions.public_topics(),
        "bases": Basis.ALL,
        "formats": list_export.FORMATS,
    }


@bp.get("/subscribers/export-list")
@owner_only  # editors may not (issue 16)
def subscribers_export_list_page():
    """Choose what to export: the whole list or one topic, a basis, CSV or JSON."""
    return render_template("admin/export_list.html", form=ButtonForm(), **_export_choices())


@bp.post("/subscribers/export-list")
@owner_only  # editors may not (issue 16)
def subscribers_export_list():
    """The list as a streamed download, in the columns the import reads; audit-logged."""
    if not ButtonForm().validate_on_submit():
        abort(400, _("The form expired; go back, reload the page and try again."))
    slug = request.form.get("topic", "")
    topic = None
    if slug:
        topic = next((t for t in subscriptions.public_topics() if t.slug == slug), None) or abort(
            400, _("No such topic.")
        )
    basis = request.form.get("basis") or None
    fmt = request.form.get("format", "csv")
    if (basis is not None and basis not in Basis.ALL) or fmt not in list_export.FORMATS:
        abort(400, _("Choose a basis and a format from the lists."))
    count = list_export.count_rows(topic, basis)
    audit.record(
        current_user,
        list_export.AUDIT_ACTION,
        slug,
        rows=count,
        topic=slug or None,
        basis=basis,
        format=fmt,
    )
    db.session.commit()
    scope = "-".join(part for part in (slug or "all", basis) if part)
    name = f"subscribers-{scope}-{utcnow().date().isoformat()}.{fmt}"
    return Response(
        stream_with_context(list_export.lines(fmt, topic, basis)),
        mimetype="text/csv" if fmt == "csv" else "application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
